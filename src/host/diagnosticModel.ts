import { docsLink, type FindingCode, type Severity } from '../shared/codes';
import type { Finding } from '../shared/findings';
import type { LayerInfo } from '../shared/model';
import type { Range } from '../shared/textRange';

/** A diagnostic as plain data: what `diagnostics.ts` turns into a `vscode.Diagnostic`. */
export interface DiagnosticDescription {
  range: Range;
  /** The file `range` is in when it is not the model file (a PyTorch block defined in another module). */
  file?: string;
  severity: Severity;
  message: string;
  code: FindingCode;
  docsUrl: string;
  related: Array<{ range: Range; message: string; file?: string }>;
}

/** Where a finding that names no layer (or a layer the file no longer has) is shown: the file's first character. */
export const MODEL_LEVEL_RANGE: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };

/**
 * A finding on the layer's definition in the model file, so the marker sits where the user
 * would change it; related layers (e.g. the last layer a gradient ratio is measured against)
 * become related information.
 */
export function describeFinding(finding: Finding, layers: readonly LayerInfo[]): DiagnosticDescription {
  const byName = new Map(layers.map((layer) => [layer.name, layer]));
  const layer = finding.layer === undefined ? undefined : byName.get(finding.layer);
  const related: DiagnosticDescription['related'] = [];
  // Layers built by one line (a block class instantiated six times) share a location: one entry naming them all.
  const atPlace = new Map<string, { layer: LayerInfo; names: string[] }>();
  for (const name of finding.relatedLayers ?? []) {
    const relatedLayer = byName.get(name);
    if (!relatedLayer || relatedLayer === layer) continue;
    const key = `${relatedLayer.file ?? ''}:${JSON.stringify(relatedLayer.range)}`;
    const entry = atPlace.get(key);
    if (entry) entry.names.push(name);
    else atPlace.set(key, { layer: relatedLayer, names: [name] });
  }
  for (const { layer: place, names } of atPlace.values()) {
    const label = names.length === 1 ? `related layer '${names[0]}'` : `related layers ${names.map((n) => `'${n}'`).join(', ')}`;
    related.push({ range: place.range, message: `${label} (${place.className})`, ...(place.file ? { file: place.file } : {}) });
  }
  // A module built inside a reusable block: where the block is instantiated (PyTorch).
  for (const where of layer?.related ?? []) related.push({ range: where.range, message: where.message, ...(where.file ? { file: where.file } : {}) });
  const stepNote = finding.step === undefined ? '' : ` (step ${finding.step})`;
  return {
    range: layer?.range ?? MODEL_LEVEL_RANGE,
    ...(layer?.file ? { file: layer.file } : {}),
    severity: finding.severity,
    message: `${finding.message}${stepNote}`,
    code: finding.code,
    docsUrl: docsLink(finding.code),
    related,
  };
}

/** Ranges overlap (ends inclusive), as VS Code asks for code actions over a selection. */
export function rangesIntersect(a: Range, b: Range): boolean {
  const before = (p: Range['start'], q: Range['start']) => p.line < q.line || (p.line === q.line && p.character < q.character);
  return !before(a.end, b.start) && !before(b.end, a.start);
}
