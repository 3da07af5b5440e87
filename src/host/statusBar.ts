import * as vscode from 'vscode';
import type { RunStatus } from '../shared/viewProtocol';
import { FOCUS_PANEL_COMMAND } from './ids';

/** `$(pulse) Gradient Lens: step 120/200` while a run goes on; a click focuses the panel. */
export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('gradientLens.status', vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = 'Gradient Lens';
    this.item.command = FOCUS_PANEL_COMMAND;
  }

  show(status: RunStatus): void {
    switch (status.phase) {
      case 'starting':
        this.item.text = `$(pulse) Gradient Lens: ${status.message ?? 'starting'}`;
        break;
      case 'running':
        this.item.text = `$(pulse) Gradient Lens: step ${status.step ?? 0}/${status.totalSteps ?? '?'}`;
        break;
      case 'done':
        this.item.text = '$(check) Gradient Lens: done';
        break;
      case 'cancelled':
        this.item.text = '$(debug-stop) Gradient Lens: stopped';
        break;
      case 'failed':
        this.item.text = '$(error) Gradient Lens: failed';
        break;
      case 'idle':
        this.item.hide();
        return;
    }
    this.item.tooltip = status.message ? `Gradient Lens — ${status.message}` : 'Gradient Lens: show the panel';
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
