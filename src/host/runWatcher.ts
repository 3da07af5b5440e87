import * as path from 'node:path';
import * as vscode from 'vscode';
import { RUN_FOLDER } from '../shared/runFile';
import type { Report } from '../shared/report';
import type { ComparisonRun } from '../shared/viewProtocol';
import { summarizeRun, type RunSummary } from '../engine/watch/runList';
import { watchRunFolder } from './runFolderWatch';

/** What the watcher needs of the controller: open a run file in the panel (following it while it is live). */
export interface RunOpener {
  openRun(runUri: vscode.Uri, comparison?: ComparisonRun | null, follow?: boolean): Promise<Report | undefined>;
  /** The run now in the panel, as the "before" of another. */
  currentAsComparison(label: string): ComparisonRun | null;
}

const OPEN = 'Open in Gradient Lens';

/**
 * "Gradient Lens: Watch Training Runs": file system watchers on `.gradient-lens/runs/` of every
 * workspace folder (VS Code's own notifications, no polling loop) announce each new run file as
 * `gradient_lens.watch()` creates it and offer to open it live; the command lists every run,
 * live and finished, to open one, or two to overlay (before/after).
 */
export class RunWatcher implements vscode.Disposable {
  private readonly watchers: vscode.Disposable[] = [];
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly announced = new Set<string>();
  private watching = false;

  constructor(
    private readonly opener: RunOpener,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Starts watching (once) and lists the runs to open. */
  async command(): Promise<void> {
    this.start();
    const runs = await this.listRuns();
    if (runs.length === 0) {
      void vscode.window.showInformationMessage(
        `Gradient Lens is watching ${RUN_FOLDER}/ in the workspace for training runs. Add \`run = gradient_lens.watch(model, optimizer)\` to your training script and start it: the run opens here.`,
      );
      return;
    }
    const items = runs.map((run) => ({ label: path.basename(run.path), description: describe(run), run }));
    const picked = await vscode.window.showQuickPick(items, {
      title: 'Gradient Lens: training runs (pick two to overlay before/after)',
      placeHolder: 'Newest first; live runs are followed as they write',
      canPickMany: true,
    });
    if (!picked || picked.length === 0) return;
    if (picked.length > 2) {
      void vscode.window.showWarningMessage('Gradient Lens overlays two runs at most: pick one, or a before and an after.');
      return;
    }
    if (picked.length === 1) {
      // Only a live run is followed: one that ended without a close record would be waited on forever.
      await this.opener.openRun(vscode.Uri.file(picked[0].run.path), null, picked[0].run.state === 'live');
      return;
    }
    // The older one is "before": read to its end first, then drawn under the newer.
    const [after, before] = [...picked].sort((a, b) => b.run.startedAt - a.run.startedAt).map((item) => item.run);
    await this.opener.openRun(vscode.Uri.file(before.path), null, false);
    const comparison = this.opener.currentAsComparison(path.basename(before.path));
    await this.opener.openRun(vscode.Uri.file(after.path), comparison, after.state === 'live');
  }

  /** File system watchers on `<folder>/.gradient-lens/runs/*.jsonl`, for folders present now and added later. */
  start(): void {
    if (this.watching) return;
    this.watching = true;
    for (const folder of vscode.workspace.workspaceFolders ?? []) this.watchFolder(folder);
    this.subscriptions.push(
      vscode.workspace.onDidChangeWorkspaceFolders((event) => {
        for (const folder of event.added) this.watchFolder(folder);
      }),
    );
    this.log.info(`watching ${RUN_FOLDER}/ in ${(vscode.workspace.workspaceFolders ?? []).length} workspace folder(s) for training runs`);
  }

  private watchFolder(folder: vscode.WorkspaceFolder): void {
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, `${RUN_FOLDER}/*.jsonl`));
    // Created empty, then its header: announce on whichever event first shows a header.
    watcher.onDidCreate((uri) => void this.announce(uri));
    watcher.onDidChange((uri) => void this.announce(uri));
    this.watchers.push(watcher);
    // VS Code's workspace watcher misses files in a run folder made after it started (see
    // runFolderWatch.ts): a watch per level of our own, on this machine's folders, catches them.
    if (folder.uri.scheme === 'file') {
      this.watchers.push(watchRunFolder(folder.uri.fsPath, RUN_FOLDER.split('/'), (file) => void this.announce(vscode.Uri.file(file))));
    }
  }

  private async announce(uri: vscode.Uri): Promise<void> {
    if (this.announced.has(uri.fsPath)) return;
    const summary = await summarizeRun(uri.fsPath);
    if (!summary || this.announced.has(uri.fsPath)) return;
    this.announced.add(uri.fsPath);
    if (summary.state !== 'live') return;
    this.log.info(`training run started: ${uri.fsPath}`);
    const answer = await vscode.window.showInformationMessage(`Gradient Lens: ${summary.script} started a training run (${describe(summary)}).`, OPEN);
    if (answer === OPEN) await this.opener.openRun(uri, null, true);
  }

  private async listRuns(): Promise<RunSummary[]> {
    const files = await vscode.workspace.findFiles(`**/${RUN_FOLDER}/*.jsonl`, '**/node_modules/**', 500);
    const summaries = await Promise.all(files.map((file) => summarizeRun(file.fsPath)));
    for (const summary of summaries) if (summary) this.announced.add(summary.path);
    return summaries.filter((s): s is RunSummary => s !== undefined).sort((a, b) => b.startedAt - a.startedAt);
  }

  dispose(): void {
    for (const watcher of this.watchers) watcher.dispose();
    for (const subscription of this.subscriptions) subscription.dispose();
  }
}

function describe(run: RunSummary): string {
  const started = new Date(run.startedAt * 1000).toLocaleString();
  const ranks = run.worldSize > 1 ? `, ${run.worldSize} ranks` : '';
  return `${run.script}${ranks}, ${run.state}, started ${started}`;
}
