import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as vscode from 'vscode';
import type { EngineToHostMessage } from '../shared/engineProtocol';
import { assertNever } from '../shared/engineProtocol';
import { locateModel, ModelTextError } from '../shared/locator';
import { LIVE_UPDATE_INTERVAL_MS, type ComparisonRun } from '../shared/viewProtocol';
import type { Report } from '../shared/report';
import type { RunOptions } from '../shared/runOptions';
import { EngineProcess } from '../engine/runner';
import type { FindingDiagnostics } from './diagnostics';
import { describeEventLoopReport, EventLoopMonitor } from './eventLoopMonitor';
import { COMMANDS, CONTEXT_KEYS, PANEL_VIEW_ID, SETTINGS_SECTION } from './ids';
import type { PanelViewProvider, RerunExtras } from './panelProvider';
import { chooseComparison, decideAnalyze, type RunTrigger } from './runDecisions';
import type { RunHistory } from './runHistory';
import { engineRuntime, resolveDataSetting, runOptionsFromSettings } from './settingsModel';
import { activeInterpreter, asksForInputShape, choosePython, isBinaryKerasPath, isKerasModelText, isPythonDocument, isTorchModuleText, parseInputShape, torchModuleCandidates, type PythonExtensionApi } from './pythonModel';
import type { LayerInfo } from '../shared/model';
import { SpareEngineSlot } from './spareEngine';
import { preloadTfjsEnv } from '../engine/startupPhases';
import { trainsWithTfjs } from '../engine/modelKind';
import type { RunStatusBar } from './statusBar';

interface ActiveRun {
  engine: EngineProcess;
  modelPath: string;
  /** A recorded real run (a run file of gradient_lens.watch()), followed while it writes. */
  runFile?: boolean;
  /** Settles when the run has ended: report, error, or stopped by signal. */
  ended: Promise<void>;
}

const RESTART = 'Restart';
const SHOW_LOG = 'Show Log';
/**
 * The engine trains as background work, so the extension host (and the rest of the editor)
 * gets a core first when both want one. An idle machine gives the engine all it asks for.
 */
const ENGINE_NICE = 19;
/**
 * Reading a run file is light work that must keep up with a training process elsewhere, which
 * runs at normal priority: at nice 19 (and its session's autogroup lowered alike) the engine
 * waited 35 s to read the header of a live run in code-server while the script trained and the
 * machine was loaded (test/e2e/watch.e2e.test.ts). Its own session at nice 0 still keeps it out
 * of the extension host's autogroup.
 */
const RUN_FILE_NICE = 0;

/**
 * Runs one analysis at a time in the engine child process and routes its messages to the
 * run history, the markers, the panel and the status bar.
 */
const ENTRY_KEY = 'gradientLens.entry:';
const INPUT_SHAPE_KEY = 'gradientLens.inputShape:';

export class AnalysisController implements vscode.Disposable {
  private active: ActiveRun | undefined;
  private readonly previousRuns = new Map<string, ComparisonRun>();
  /** Files a quick fix was applied to since their last run: the next run shows before/after. */
  private readonly fixesApplied = new Map<string, string>();
  private readonly eventLoop = new EventLoopMonitor();
  private shuttingDown = false;
  private readonly spares = new SpareEngineSlot(
    (execPath, waiting) => this.newEngine(execPath, ENGINE_NICE, waiting?.preloadTfjs),
    () => !this.active && !this.shuttingDown,
  );

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly history: RunHistory,
    private readonly diagnostics: FindingDiagnostics,
    private readonly panel: PanelViewProvider,
    private readonly statusBar: RunStatusBar,
    private readonly log: vscode.LogOutputChannel,
    /** Per-file choices for PyTorch files (the module to train, an input shape), kept across sessions. */
    private readonly choices?: vscode.Memento,
  ) {}

  get isRunning(): boolean {
    return this.active !== undefined;
  }

  /** The Analyze command: `uri` from the explorer or editor title, else the active editor; `extra` from a panel button. */
  async analyze(uri?: vscode.Uri, trigger: RunTrigger = { kind: 'fresh' }, extra: RerunExtras = {}): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      await this.explainRestrictedMode();
      return;
    }
    const target = uri ?? vscode.window.activeTextEditor?.document.uri;
    if (!target) {
      void vscode.window.showErrorMessage('Gradient Lens: open a model file (Keras or TF.js model.json, a .keras or .h5 file, or a Keras or PyTorch .py) to analyse.');
      return;
    }
    // A .keras / .h5 file is binary: not opened as text; its layers come from the engine's `ready`.
    const binary = isBinaryKerasPath(target.fsPath);
    const document = binary ? undefined : await vscode.workspace.openTextDocument(target);
    const pytorch = document !== undefined && isPythonDocument(document);
    const kerasPython = pytorch && isKerasModelText(document.getText());
    let layers: LayerInfo[] = [];
    if (binary) {
      // Nothing to check in the host: the engine reads the zip / HDF5 and says what is wrong with it.
    } else if (pytorch) {
      // Layers come from the trainer or the Keras exporter (the file runs only in the engine's child, in a trusted workspace).
      if (!kerasPython && !isTorchModuleText(document.getText())) {
        void vscode.window.showErrorMessage(`Gradient Lens: ${vscode.workspace.asRelativePath(target)}: defines no PyTorch nn.Module and builds no Keras model to analyse`);
        return;
      }
    } else if (document) {
      try {
        // Nested models' own layers too, so a problem with an inner layer is marked on its config.
        const located = locateModel(document.getText());
        layers = [...located.layers, ...located.nestedLayers];
      } catch (error) {
        const problem = error instanceof ModelTextError ? error.problem : String(error);
        void vscode.window.showErrorMessage(`Gradient Lens: ${vscode.workspace.asRelativePath(target)}: ${problem}`);
        return;
      }
    }
    // The engine reads the file from disk; the fixes it plans must match what the editor shows.
    if (document?.isDirty && !(await document.save())) {
      void vscode.window.showErrorMessage(`Gradient Lens: save ${vscode.workspace.asRelativePath(target)} before analysing it.`);
      return;
    }

    const decision = decideAnalyze(this.active);
    if (decision.kind === 'ask-restart') {
      const answer = await vscode.window.showWarningMessage(
        `Gradient Lens is analysing ${path.basename(decision.runningModelPath)}. Stop it and analyse ${path.basename(target.fsPath)}?`,
        { modal: true },
        RESTART,
      );
      if (answer !== RESTART) return;
      await this.stop();
    }

    const modelPath = target.fsPath;
    const fixTitle = this.fixesApplied.get(modelPath);
    this.fixesApplied.delete(modelPath);
    const effectiveTrigger: RunTrigger = fixTitle !== undefined ? { kind: 'after-fix', fixTitle } : trigger;
    const options = runOptionsFromSettings((key) => vscode.workspace.getConfiguration(SETTINGS_SECTION, target).get(key));
    const data = resolveDataSetting(options.data, vscode.workspace.getWorkspaceFolder(target)?.uri.fsPath ?? path.dirname(modelPath));
    if (data !== undefined) options.data = data;
    options.maxEventsPerSecond = 1000 / LIVE_UPDATE_INTERVAL_MS;
    Object.assign(options, extra);
    if (binary) {
      // A Keras .py open beside the binary file that builds the same model gets the markers (the engine checks it is the same);
      // with none open, the engine looks for one beside it (same stem, or the only Keras model source there) and runs it in this interpreter.
      const source = vscode.workspace.textDocuments.find(
        (open) => isPythonDocument(open) && path.dirname(open.uri.fsPath) === path.dirname(modelPath) && isKerasModelText(open.getText()),
      );
      if (source) options.kerasSource = source.uri.fsPath;
      const python = await this.pythonFor(source?.uri ?? target);
      if (python.python) options.python = python.python;
      if (source) this.log.info(`markers for ${path.basename(modelPath)} go to ${source.uri.fsPath} if it builds the same model (python: ${python.python ?? 'python3'})`);
    }
    if (pytorch) {
      // The nn.Module quick pick is PyTorch's; a Keras .py's model is the exporter's choice (the last module-level model).
      const entry = kerasPython ? undefined : await this.entryFor(modelPath, document.getText());
      if (entry === null) return;
      if (entry) options.entry = entry;
      const shape = this.choices?.get<number[]>(`${INPUT_SHAPE_KEY}${modelPath}`);
      if (shape && !kerasPython) options.inputShape = shape;
      const python = await this.pythonFor(document.uri);
      if (python.python) options.python = python.python;
      this.log.info(`python: ${python.python ?? 'python3'} (${python.source})`);
    }
    this.history.begin(modelPath, options.steps, chooseComparison(this.previousRuns.get(modelPath), effectiveTrigger));
    this.diagnostics.begin({ uri: target, version: document?.version ?? 0, layers });
    this.panel.sendSnapshot();
    this.statusBar.show(this.history.status);
    if (document) await this.revealPanel(document);
    else await vscode.commands.executeCommand(`${PANEL_VIEW_ID}.focus`);

    this.log.info(`analysing ${modelPath} with ${JSON.stringify(options)}`);
    if (effectiveTrigger.kind === 'after-fix') this.log.info(`drawn against the run before the fix "${effectiveTrigger.fixTitle}"`);
    const { engine, prepared } = this.takeEngine();
    const run: ActiveRun = { engine, modelPath, ended: Promise.resolve() };
    this.active = run;
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.running, true);
    this.eventLoop.start();
    engine.onMessage((message) => {
      const started = performance.now();
      this.handle(run, message);
      this.eventLoop.noteHandled(message.type, performance.now() - started);
    });
    run.ended = engine.start(modelPath, options).then((result) => {
      // A run stopped by signal sends no report: the history still ends, as cancelled.
      if (result.kind === 'killed') this.endWithoutReport(run);
      this.finishRun(run);
    });
    const priority = engine.priority;
    this.log.info(
      `engine process ${engine.pid ?? '?'} ${prepared ? 'started (prepared before the request)' : 'started'}` +
        (priority ? ` (${[...priority.applied, ...priority.refused.map((r) => `not set: ${r}`)].join(', ') || 'priority unchanged'})` : ''),
    );
  }

  /**
   * Opens a run file of `gradient_lens.watch()` in the panel: the engine reads it (following it
   * while the run writes, through the file system's notifications) and sends the same messages
   * as a short run, so the charts, the rules, the markers in the files where the modules are
   * defined and the quick fixes are the short run's. `comparison` overlays an earlier run.
   * Resolves when the engine has read the file to its end (a live run: when it closes, or on Stop).
   */
  async openRun(runUri: vscode.Uri, comparison: ComparisonRun | null = null, follow = true): Promise<Report | undefined> {
    if (this.active) {
      const answer = await vscode.window.showWarningMessage(
        `Gradient Lens is showing ${path.basename(this.active.modelPath)}. Stop it and open ${path.basename(runUri.fsPath)}?`,
        { modal: true },
        RESTART,
      );
      if (answer !== RESTART) return undefined;
      await this.stop();
    }
    const runPath = runUri.fsPath;
    const options: RunOptions = { followRunFile: follow, maxEventsPerSecond: 1000 / LIVE_UPDATE_INTERVAL_MS };
    const thresholds = runOptionsFromSettings((key) => vscode.workspace.getConfiguration(SETTINGS_SECTION, runUri).get(key)).thresholds;
    if (thresholds) options.thresholds = thresholds;
    this.history.begin(runPath, undefined, comparison);
    // The markers' file is the model's, known once the engine has read the header (`ready`).
    this.diagnostics.clear();
    this.panel.sendSnapshot();
    this.statusBar.show(this.history.status);
    await vscode.commands.executeCommand(`${PANEL_VIEW_ID}.focus`);
    this.log.info(`opening the run file ${runPath}`);
    // Not the spare: that one waits at ENGINE_NICE for the next short run.
    const engine = this.newEngine(this.runtimeSetting(), RUN_FILE_NICE);
    const run: ActiveRun = { engine, modelPath: runPath, runFile: true, ended: Promise.resolve() };
    this.active = run;
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.running, true);
    this.eventLoop.start();
    let report: Report | undefined;
    engine.onMessage((message) => {
      const started = performance.now();
      if (message.type === 'done') report = message.report;
      this.handle(run, message);
      this.eventLoop.noteHandled(message.type, performance.now() - started);
    });
    run.ended = engine.start(runPath, options).then((result) => {
      if (result.kind === 'killed') this.endWithoutReport(run);
      this.finishRun(run);
    });
    const priority = engine.priority;
    this.log.info(`engine process ${engine.pid ?? '?'} reads the run file${priority ? ` (${[...priority.applied, ...priority.refused.map((r) => `not set: ${r}`)].join(', ')})` : ''}`);
    await run.ended;
    return report;
  }

  /** The run now in the panel, as the "before" of another (null when it has no steps). */
  currentAsComparison(label: string): ComparisonRun | null {
    return this.history.stepCount > 0 ? { ...this.history.asComparison(), label } : null;
  }

  /** Stop: cooperative cancel, then SIGTERM, then SIGKILL (inside EngineProcess). */
  async stop(): Promise<void> {
    const run = this.active;
    if (!run) return;
    this.log.info(`stopping the analysis of ${run.modelPath}`);
    await run.engine.cancel();
    await run.ended;
  }

  clear(): void {
    this.diagnostics.clear();
    if (this.active) return; // a running analysis keeps feeding the panel; Clear only drops its markers
    this.history.clear();
    this.panel.sendClear();
    this.statusBar.show(this.history.status);
  }

  /** A quick fix changed `uri`: its next run is drawn against the current one. */
  noteFixApplied(uri: vscode.Uri, fixTitle: string): void {
    this.fixesApplied.set(uri.fsPath, fixTitle);
  }

  /** The panel's Re-run (and Find learning rate, Compare fixes: `extra`): the file of the current run, drawn against this run. */
  async rerun(extra: RerunExtras = {}): Promise<void> {
    if (!this.history.modelPath) return;
    await this.analyze(vscode.Uri.file(this.history.modelPath), { kind: 'rerun' }, extra);
  }

  private handle(run: ActiveRun, message: EngineToHostMessage): void {
    if (this.active !== run) return;
    switch (message.type) {
      case 'ready':
        this.history.ready(message.layers, run.runFile ? undefined : message.options.steps, message.backend, message.weights);
        if (run.runFile) {
          // A run file's findings land in the model's source; fixes hold for the version open now.
          const modelUri = vscode.Uri.file(message.modelPath);
          const open = vscode.workspace.textDocuments.find((document) => document.uri.toString() === modelUri.toString());
          this.diagnostics.begin({ uri: modelUri, version: open?.version ?? 1, layers: message.layers });
        }
        this.diagnostics.setLayers(message.layers);
        this.panel.sendSnapshot();
        this.statusBar.show(this.history.status);
        this.log.info(`backend ${message.backend}, ${message.layers.length} layers, options ${JSON.stringify(message.options)}`);
        for (const warning of message.warnings) this.log.warn(warning);
        return;
      case 'step':
        this.history.addSteps(message.steps);
        this.panel.sendSteps(message.steps);
        this.statusBar.show(this.history.status);
        return;
      case 'finding':
        this.history.addFinding(message.finding);
        this.diagnostics.add(message.finding);
        this.panel.sendFinding(message.finding);
        this.log.info(`finding ${message.finding.severity} ${message.finding.code}${message.finding.layer ? ` at ${message.finding.layer}` : ''}: ${message.finding.message}`);
        return;
      case 'done': {
        const report = message.report;
        this.history.finish(report);
        this.diagnostics.replaceAll(report.findings);
        this.panel.sendSnapshot();
        this.statusBar.show(this.history.status);
        if (this.history.stepCount > 0) this.previousRuns.set(run.modelPath, this.history.asComparison());
        this.log.info(
          `run ${report.run.cancelled ? 'cancelled' : 'done'}: ${report.run.stepsCompleted ?? report.run.steps} steps in ${report.run.durationMs} ms ` +
            `(median step ${report.run.stepMsMedian} ms, backend ${report.run.backend}), ${report.findings.length} finding(s)`,
        );
        return;
      }
      case 'error':
        if (message.detail) this.log.error(message.detail);
        if (message.layer) this.diagnostics.markBadLayer(message.layer, message.message.replace(`${run.modelPath}: `, ''));
        if (run.modelPath.endsWith('.py') && asksForInputShape(message.message)) {
          void this.askInputShape(run.modelPath, message.message);
          this.history.fail(message.message);
          this.panel.sendStatus(this.history.status);
          this.statusBar.show(this.history.status);
          return;
        }
        this.fail(run, message.message);
        return;
      case 'loading':
        this.history.loading(message.what, message.done, message.total);
        this.panel.sendStatus(this.history.status);
        this.statusBar.show(this.history.status);
        if (message.done === message.total) this.log.info(`engine: ${message.what}: ${message.total} done`);
        return;
      case 'log':
        this.log.info(`engine: ${message.message}`);
        return;
      default:
        assertNever(message);
    }
  }

  private endWithoutReport(run: ActiveRun): void {
    if (this.active !== run) return;
    this.history.status = { ...this.history.status, phase: 'cancelled', message: 'stopped' };
    this.panel.sendStatus(this.history.status);
    this.statusBar.show(this.history.status);
    this.log.info(`engine process ${run.engine.pid ?? '?'} was stopped by signal before it reported`);
  }

  /** One notification per failed run, with the way to the details. */
  private fail(run: ActiveRun, reason: string): void {
    if (this.active !== run) return;
    this.log.error(`analysis of ${run.modelPath} failed: ${reason}`);
    this.history.fail(reason);
    this.panel.sendStatus(this.history.status);
    this.statusBar.show(this.history.status);
    void vscode.window.showErrorMessage(`Gradient Lens: ${reason}`, SHOW_LOG).then((answer) => {
      if (answer === SHOW_LOG) void vscode.commands.executeCommand(COMMANDS.showLog);
    });
  }

  private finishRun(run: ActiveRun): void {
    if (this.active !== run) return;
    this.active = undefined;
    this.log.info(`engine process ${run.engine.pid ?? '?'} ended`);
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.running, false);
    const delay = this.eventLoop.stop();
    this.log.info(describeEventLoopReport(delay));
    this.prepareSpare(!run.runFile && trainsWithTfjs(run.modelPath));
  }

  private runtimeSetting(): string | undefined {
    return engineRuntime((key) => vscode.workspace.getConfiguration(SETTINGS_SECTION).get(key));
  }

  private newEngine(execPath: string | undefined, nice = ENGINE_NICE, preloadTfjs = false): EngineProcess {
    return new EngineProcess({
      enginePath: vscode.Uri.joinPath(this.extensionUri, 'dist', 'engine.js').fsPath,
      execPath,
      backgroundNice: nice,
      ...(preloadTfjs ? { env: preloadTfjsEnv() } : {}),
    });
  }

  /** The spare engine when it is alive and uses the runtime the settings name now; else a new one. */
  private takeEngine(): { engine: EngineProcess; prepared: boolean } {
    return this.spares.take(this.runtimeSetting());
  }

  /**
   * A model file came to the front: an engine waits for its first Analyze, as one does after
   * every run, so the first run of a session starts warm too (TF.js loaded for a JSON or Keras
   * file, not for a PyTorch one). Nothing when a run is active or an engine already waits; an
   * unused one stops after SPARE_ENGINE_IDLE_MS.
   */
  prepareForModelFile(python: boolean): void {
    if (this.shuttingDown || this.active || this.spares.waiting) return;
    this.prepareSpare(!python);
  }

  private prepareSpare(preloadTfjs: boolean): void {
    if (this.shuttingDown) return;
    this.spares.replenish(this.runtimeSetting(), preloadTfjs);
  }

  /**
   * The module to train when a file defines several that need no arguments: the one picked for
   * this file before, else a quick pick (remembered). Undefined leaves it to the trainer (one
   * candidate), null means the user cancelled.
   */
  private async entryFor(modelPath: string, text: string): Promise<string | undefined | null> {
    const trainable = torchModuleCandidates(text).filter((c) => !c.needsArguments).map((c) => c.name);
    if (trainable.length < 2) return undefined;
    const key = `${ENTRY_KEY}${modelPath}`;
    const remembered = this.choices?.get<string>(key);
    if (remembered && trainable.includes(remembered)) return remembered;
    const picked = await vscode.window.showQuickPick(
      trainable.map((name, index) => ({ label: name, description: index === trainable.length - 1 ? 'the last one (the CLI default)' : undefined })).reverse(),
      { title: `Gradient Lens: which module of ${path.basename(modelPath)} to analyse?`, placeHolder: 'Remembered for this file' },
    );
    if (!picked) return null;
    await this.choices?.update(key, picked.label);
    return picked.label;
  }

  /** The trainer could not infer the input shape: ask for it, remember it for the file, and run again. */
  private async askInputShape(modelPath: string, reason: string): Promise<void> {
    const answer = await vscode.window.showInputBox({
      title: `Gradient Lens: input shape for ${path.basename(modelPath)}`,
      prompt: `${reason.replace(`${modelPath}: `, '')}. One example's shape as C,H,W (remembered for this file; INPUT_SHAPE = (C, H, W) in the file works too).`,
      placeHolder: '3,64,64',
      validateInput: (value) => {
        const parsed = parseInputShape(value);
        return typeof parsed === 'string' ? parsed : undefined;
      },
    });
    if (answer === undefined) return;
    const shape = parseInputShape(answer);
    if (typeof shape === 'string') return;
    await this.choices?.update(`${INPUT_SHAPE_KEY}${modelPath}`, shape);
    await this.analyze(vscode.Uri.file(modelPath));
  }

  /** The interpreter for a PyTorch run: the setting, else the Python extension's active environment (an optional extension, never a dependency). */
  private async pythonFor(resource: vscode.Uri): Promise<{ python?: string; source: string }> {
    const setting = vscode.workspace.getConfiguration(SETTINGS_SECTION, resource).get('pythonPath');
    let fromExtension: string | undefined;
    if (typeof setting !== 'string' || setting.trim() === '') {
      const extension = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
      if (extension) {
        try {
          const api = extension.isActive ? extension.exports : await extension.activate();
          fromExtension = await activeInterpreter(api, resource);
        } catch (error) {
          this.log.warn(`the Python extension gave no interpreter: ${(error as Error).message}`);
        }
      }
    }
    return choosePython(setting, fromExtension);
  }

  private async revealPanel(document: vscode.TextDocument): Promise<void> {
    await vscode.commands.executeCommand(`${PANEL_VIEW_ID}.focus`);
    await vscode.window.showTextDocument(document, { preview: false });
  }

  private async explainRestrictedMode(): Promise<void> {
    const manage = 'Manage Workspace Trust';
    const answer = await vscode.window.showWarningMessage(
      'Gradient Lens does not train models in Restricted Mode: an analysis runs the model file through TF.js in a child process (a PyTorch file is imported, which runs its code, in your Python) and may read data files it names. Trust this workspace to analyse it.',
      manage,
    );
    if (answer === manage) await vscode.commands.executeCommand('workbench.trust.manage');
  }

  /** Deactivation: no time for a cooperative cancel, the engine is killed. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([this.active?.engine.dispose(), this.spares.dispose()]);
  }

  dispose(): void {
    void this.shutdown();
  }
}
