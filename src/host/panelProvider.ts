import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import type { Finding } from '../shared/findings';
import type { RunOptions } from '../shared/runOptions';
import type { StepStats } from '../shared/stats';
import { isViewToHostMessage, LIVE_UPDATE_INTERVAL_MS, type HostToViewMessage, type RunStatus, type ViewSettings, type ViewToHostMessage } from '../shared/viewProtocol';
import { assertNever } from '../shared/engineProtocol';
import type { RunHistory } from './runHistory';
import { UpdateThrottle } from './updateThrottle';

/** What the panel asks of the rest of the host. */
export interface PanelActions {
  revealLayer(layer: string): Promise<void>;
  exportReport(format: 'markdown' | 'json'): Promise<void>;
  exportChart(chart: string, dataUrl: string): Promise<void>;
  stop(): Promise<void>;
  /** `extra`: what this re-run adds (the range test, the fix comparison). */
  rerun(extra?: RerunExtras): Promise<void>;
}

/** Run options a panel button adds to a re-run. */
export type RerunExtras = Pick<RunOptions, 'findLr' | 'compareFixes'>;

/**
 * The side panel. The host keeps the run (RunHistory); the panel is a cache of it: it gets a
 * snapshot when its script is ready and whenever it becomes visible again, and live updates
 * only while visible.
 */
export class PanelViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private viewReady = false;
  private readonly viewSubscriptions: vscode.Disposable[] = [];
  private readonly stepThrottle = new UpdateThrottle<StepStats>(LIVE_UPDATE_INTERVAL_MS, (steps) => this.post({ type: 'steps', steps }));

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly history: RunHistory,
    private readonly settings: () => ViewSettings,
    private readonly actions: PanelActions,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.disposeView();
    this.view = view;
    this.viewReady = false;
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist');
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [dist, media] };
    view.webview.html = this.html(view.webview, dist, media);
    this.viewSubscriptions.push(
      view.webview.onDidReceiveMessage((message: unknown) => this.receive(message)),
      view.onDidChangeVisibility(() => {
        if (view.visible) this.sendSnapshot();
      }),
      view.onDidDispose(() => this.disposeView()),
    );
  }

  /** The run changed wholesale (a new run, its end, a clear): the panel redraws from the history. */
  sendSnapshot(): void {
    this.stepThrottle.discard();
    this.post(this.history.snapshot(this.settings()));
  }

  sendSteps(steps: readonly StepStats[]): void {
    if (this.isLive()) this.stepThrottle.push(steps);
  }

  sendFinding(finding: Finding): void {
    this.stepThrottle.flushNow();
    this.post({ type: 'finding', finding });
  }

  sendStatus(status: RunStatus): void {
    this.stepThrottle.flushNow();
    this.post({ type: 'status', status });
  }

  sendClear(): void {
    this.stepThrottle.discard();
    this.post({ type: 'clear' });
  }

  /** Hidden panels get nothing; they are brought up to date by a snapshot when shown. */
  private isLive(): boolean {
    return this.view !== undefined && this.viewReady && this.view.visible;
  }

  private post(message: HostToViewMessage): void {
    if (!this.isLive()) return;
    void this.view!.webview.postMessage(message);
  }

  private receive(message: unknown): void {
    if (!isViewToHostMessage(message)) {
      this.log.warn(`panel sent an unknown message: ${JSON.stringify(message).slice(0, 200)}`);
      return;
    }
    void this.handle(message).catch((error: unknown) => {
      this.log.error(`panel request ${message.type} failed: ${String(error)}`);
      void vscode.window.showErrorMessage(`Gradient Lens: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  private async handle(message: ViewToHostMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.viewReady = true;
        this.sendSnapshot();
        return;
      case 'revealLayer':
        return this.actions.revealLayer(message.layer);
      case 'exportReport':
        return this.actions.exportReport(message.format);
      case 'exportChart':
        return this.actions.exportChart(message.chart, message.dataUrl);
      case 'stop':
        return this.actions.stop();
      case 'rerun':
        return this.actions.rerun();
      case 'findLearningRate':
        return this.actions.rerun({ findLr: 'always' });
      case 'compareFixes':
        return this.actions.rerun({ compareFixes: true });
      default:
        assertNever(message);
    }
  }

  private html(webview: vscode.Webview, dist: vscode.Uri, media: vscode.Uri): string {
    const nonce = crypto.randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(media, 'panel.css'));
    // No inline styles or scripts: Chart.js and the web components style through the CSSOM,
    // which this policy allows; the one script runs by its nonce.
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `font-src ${webview.cspSource}`,
      `style-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>Gradient Lens</title>
</head>
<body>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }

  private disposeView(): void {
    for (const subscription of this.viewSubscriptions.splice(0)) subscription.dispose();
    this.stepThrottle.discard();
    this.view = undefined;
    this.viewReady = false;
  }

  dispose(): void {
    this.disposeView();
    this.stepThrottle.dispose();
  }
}
