import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatReport } from '../engine/report/index';
import { toVsRange } from './diagnostics';
import type { PanelActions, RerunExtras } from './panelProvider';
import type { RunHistory } from './runHistory';

const PNG_DATA_URL_PREFIX = 'data:image/png;base64,';

/** What the panel's buttons do: reveal a layer, save a report or a chart, stop, re-run. */
export class PanelRequests implements PanelActions {
  constructor(
    private readonly history: RunHistory,
    private readonly commands: { stop(): Promise<void>; rerun(extra?: RerunExtras): Promise<void> },
  ) {}

  async revealLayer(layerName: string): Promise<void> {
    if (!this.history.modelPath) return;
    const layer = this.history.layers.find((candidate) => candidate.name === layerName);
    if (!layer) return;
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(this.history.modelPath));
    const range = toVsRange(layer.range);
    const editor = await vscode.window.showTextDocument(document, { selection: new vscode.Range(range.start, range.start) });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  async exportReport(format: 'markdown' | 'json'): Promise<void> {
    const report = this.history.report;
    if (!report || !this.history.modelPath) {
      void vscode.window.showInformationMessage('Gradient Lens: the report is ready when the run has finished.');
      return;
    }
    const extension = format === 'json' ? 'json' : 'md';
    const target = await vscode.window.showSaveDialog({
      defaultUri: this.besideModel(`gradient-report.${extension}`),
      filters: format === 'json' ? { JSON: ['json'] } : { Markdown: ['md'] },
      saveLabel: 'Export Report',
    });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, Buffer.from(formatReport(report, format), 'utf8'));
    void vscode.window.showInformationMessage(`Gradient Lens: report saved to ${vscode.workspace.asRelativePath(target)}.`);
  }

  async exportChart(chart: string, dataUrl: string): Promise<void> {
    const target = await vscode.window.showSaveDialog({
      defaultUri: this.besideModel(`gradient-${chart}.png`),
      filters: { 'PNG image': ['png'] },
      saveLabel: 'Export Chart',
    });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, Buffer.from(dataUrl.slice(PNG_DATA_URL_PREFIX.length), 'base64'));
    void vscode.window.showInformationMessage(`Gradient Lens: chart saved to ${vscode.workspace.asRelativePath(target)}.`);
  }

  stop(): Promise<void> {
    return this.commands.stop();
  }

  rerun(extra?: RerunExtras): Promise<void> {
    return this.commands.rerun(extra);
  }

  private besideModel(fileName: string): vscode.Uri | undefined {
    return this.history.modelPath ? vscode.Uri.file(path.join(path.dirname(this.history.modelPath), fileName)) : undefined;
  }
}
