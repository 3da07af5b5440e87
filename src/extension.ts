import * as vscode from 'vscode';
import { AnalysisController } from './host/analysisController';
import { applyFix, FixCodeActionProvider, type ApplyFixArgs } from './host/codeActions';
import { FindingDiagnostics } from './host/diagnostics';
import { COMMANDS, PANEL_VIEW_ID, SETTINGS_SECTION } from './host/ids';
import { ModelFileContext } from './host/modelFileContext';
import { PanelRequests } from './host/panelRequests';
import { PanelViewProvider } from './host/panelProvider';
import { RunHistory } from './host/runHistory';
import { viewSettingsFromSettings } from './host/settingsModel';
import { RunStatusBar } from './host/statusBar';
import { RunWatcher } from './host/runWatcher';

let controller: AnalysisController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Gradient Lens', { log: true });
  const history = new RunHistory();
  const diagnostics = new FindingDiagnostics();
  const statusBar = new RunStatusBar();
  const requests = new PanelRequests(history, { stop: () => controller!.stop(), rerun: (extra) => controller!.rerun(extra) });
  const viewSettings = () => viewSettingsFromSettings((key) => vscode.workspace.getConfiguration(SETTINGS_SECTION).get(key));
  const panel = new PanelViewProvider(context.extensionUri, history, viewSettings, requests, log);
  controller = new AnalysisController(context.extensionUri, history, diagnostics, panel, statusBar, log, context.workspaceState);
  const analysis = controller;
  const runs = new RunWatcher(analysis, log);

  context.subscriptions.push(
    log,
    diagnostics,
    statusBar,
    panel,
    analysis,
    runs,
    new ModelFileContext((python) => analysis.prepareForModelFile(python)),
    vscode.window.registerWebviewViewProvider(PANEL_VIEW_ID, panel),
    // `.py` by name too: without a Python language (no grammar, or a files.associations override) the file is plaintext.
    vscode.languages.registerCodeActionsProvider(
      [{ language: 'json' }, { language: 'jsonc' }, { language: 'python' }, { pattern: '**/*.py' }],
      new FixCodeActionProvider(diagnostics),
      FixCodeActionProvider.metadata,
    ),
    vscode.commands.registerCommand(COMMANDS.analyze, (uri?: vscode.Uri) => analysis.analyze(uri instanceof vscode.Uri ? uri : undefined)),
    vscode.commands.registerCommand(COMMANDS.stop, () => analysis.stop()),
    vscode.commands.registerCommand(COMMANDS.clear, () => analysis.clear()),
    vscode.commands.registerCommand(COMMANDS.showLog, () => log.show()),
    vscode.commands.registerCommand(COMMANDS.watchRuns, () => runs.command()),
    vscode.commands.registerCommand(COMMANDS.applyFix, async (args: ApplyFixArgs) => {
      if (!(await applyFix(args))) return;
      analysis.noteFixApplied(vscode.Uri.parse(args.uri), args.fix.title);
      const rerun = 'Re-run Analysis';
      const answer = await vscode.window.showInformationMessage(`Gradient Lens: applied "${args.fix.title}".`, rerun);
      if (answer === rerun) await analysis.analyze(vscode.Uri.parse(args.uri));
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SETTINGS_SECTION}.chartPointBudget`) || event.affectsConfiguration(`${SETTINGS_SECTION}.thresholds`)) panel.sendSnapshot();
    }),
  );
  // New run files are announced as soon as a training script creates one (file system watchers, no polling).
  runs.start();
  log.info('Gradient Lens activated');
}

/** VS Code waits for the returned promise: the engine child is stopped, never orphaned. */
export function deactivate(): Promise<void> | undefined {
  const shutdown = controller?.shutdown();
  controller = undefined;
  return shutdown;
}
