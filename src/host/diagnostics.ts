import * as vscode from 'vscode';
import type { Severity } from '../shared/codes';
import type { Finding } from '../shared/findings';
import type { LayerInfo } from '../shared/model';
import type { Range } from '../shared/textRange';
import { describeFinding } from './diagnosticModel';
import type { PlacedFinding } from './fixSelection';
import { DIAGNOSTIC_SOURCE } from './ids';

const SEVERITY: Record<Severity, vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

export function toVsRange(range: Range): vscode.Range {
  return new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
}

/** The analysed file as the run saw it: fixes apply only to this version. */
export interface AnalyzedDocument {
  uri: vscode.Uri;
  version: number;
  layers: LayerInfo[];
}

/**
 * The markers of the last run, fed live as findings arrive. They describe one version of the
 * file: the first edit of that file makes them stale, and they are removed.
 */
export class FindingDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('gradientLens');
  private readonly subscriptions: vscode.Disposable[] = [];
  private analyzed: AnalyzedDocument | undefined;
  private placed: PlacedFinding[] = [];

  constructor() {
    this.subscriptions.push(
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.contentChanges.length > 0 && this.analyzed?.uri.toString() === event.document.uri.toString()) this.clear();
      }),
    );
  }

  /** A run starts on this document: earlier markers go. */
  begin(document: AnalyzedDocument): void {
    this.clear();
    this.analyzed = document;
  }

  /** The engine built the model: from now on findings are placed with its layers. */
  setLayers(layers: LayerInfo[]): void {
    if (this.analyzed) this.analyzed.layers = layers;
  }

  add(finding: Finding): void {
    if (!this.analyzed) return;
    this.placed.push({ finding, range: describeFinding(finding, this.analyzed.layers).range });
    this.publish();
  }

  /** The engine refused the model because of one layer: an error marker on its definition, as for a finding. */
  markBadLayer(layerName: string, message: string): void {
    const layer = this.analyzed?.layers.find((candidate) => candidate.name === layerName);
    if (!this.analyzed || !layer) return;
    const diagnostic = new vscode.Diagnostic(toVsRange(layer.range), message, vscode.DiagnosticSeverity.Error);
    diagnostic.source = DIAGNOSTIC_SOURCE;
    this.collection.set(this.analyzed.uri, [diagnostic]);
  }

  /** The final set (the report's), replacing the live ones. */
  replaceAll(findings: readonly Finding[]): void {
    if (!this.analyzed) return;
    const layers = this.analyzed.layers;
    this.placed = findings.map((finding) => ({ finding, range: describeFinding(finding, layers).range }));
    this.publish();
  }

  clear(): void {
    this.analyzed = undefined;
    this.placed = [];
    this.collection.clear();
  }

  /** The findings on `uri` with where they are drawn, and the version they hold for. */
  findingsFor(uri: vscode.Uri): { placed: readonly PlacedFinding[]; version: number } | undefined {
    if (!this.analyzed || this.analyzed.uri.toString() !== uri.toString()) return undefined;
    return { placed: this.placed, version: this.analyzed.version };
  }

  private publish(): void {
    const analyzed = this.analyzed;
    if (!analyzed) return;
    const byFile = new Map<string, { uri: vscode.Uri; diagnostics: vscode.Diagnostic[] }>([[analyzed.uri.toString(), { uri: analyzed.uri, diagnostics: [] }]]);
    const uriOf = (file: string | undefined) => (file ? vscode.Uri.file(file) : analyzed.uri);
    for (const { finding } of this.placed) {
      const description = describeFinding(finding, analyzed.layers);
      const diagnostic = new vscode.Diagnostic(toVsRange(description.range), description.message, SEVERITY[description.severity]);
      diagnostic.source = DIAGNOSTIC_SOURCE;
      diagnostic.code = { value: description.code, target: vscode.Uri.parse(description.docsUrl) };
      diagnostic.relatedInformation = description.related.map(
        (related) => new vscode.DiagnosticRelatedInformation(new vscode.Location(uriOf(related.file), toVsRange(related.range)), related.message),
      );
      // A PyTorch layer defined in another module than the model file: the marker goes where the layer is.
      const uri = uriOf(description.file);
      const entry = byFile.get(uri.toString()) ?? { uri, diagnostics: [] };
      entry.diagnostics.push(diagnostic);
      byFile.set(uri.toString(), entry);
    }
    this.collection.clear();
    for (const { uri, diagnostics } of byFile.values()) this.collection.set(uri, diagnostics);
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
    this.collection.dispose();
  }
}
