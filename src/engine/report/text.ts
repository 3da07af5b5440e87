import type { Report } from '../../shared/report';
import { comparisonHeadline, comparisonTable, layerTable, lrRangeLines, progressLine, runFacts, verificationTable, type Table } from './reportTables';

const INDENT = '  ';

/** The terminal report: run facts, the per-layer gradient table, progress, findings, fix checks. */
export function textReport(report: Report): string {
  const lines: string[] = ['Gradient Lens report', ''];
  const facts = runFacts(report);
  const keyWidth = Math.max(...facts.map(([key]) => key.length));
  for (const [key, value] of facts) lines.push(`${INDENT}${key.padEnd(keyWidth)}  ${value}`);

  const layers = layerTable(report);
  if (layers.rows.length > 0) lines.push('', 'Layers (kernel gradient RMS)', ...alignedTable(layers));

  const progress = progressLine(report);
  if (progress) lines.push('', `Progress: ${progress}`);

  lines.push('', report.findings.length === 0 ? 'Findings: none' : `Findings (${report.findings.length})`);
  for (const finding of report.findings) {
    const where = [finding.layer, finding.step === undefined ? undefined : `step ${finding.step}`].filter(Boolean).join(', ');
    lines.push(`${INDENT}${finding.severity.padEnd(7)} ${finding.code}${where ? ` (${where})` : ''}`);
    lines.push(`${INDENT}${INDENT}${finding.message}`);
    if (finding.fixes[0]) lines.push(`${INDENT}${INDENT}fix: ${finding.fixes[0].title}`);
  }

  const range = lrRangeLines(report);
  if (range.length > 0) lines.push('', 'Learning-rate range test', ...range.map((line) => `${INDENT}${line}`));

  const verifications = verificationTable(report);
  if (verifications.rows.length > 0) lines.push('', 'Fix verification (before → after)', ...alignedTable(verifications));

  const headline = comparisonHeadline(report);
  if (headline) lines.push('', 'Fixes compared (best first)', `${INDENT}${headline}`, ...alignedTable(comparisonTable(report)));

  if (report.warnings?.length) lines.push('', 'Warnings', ...report.warnings.map((w) => `${INDENT}${w}`));
  return `${lines.join('\n')}\n`;
}

function alignedTable(table: Table): string[] {
  const all = [table.header, ...table.rows];
  const widths = table.header.map((_, column) => Math.max(...all.map((row) => [...row[column]].length)));
  const render = (row: string[]) =>
    INDENT +
    row
      .map((cell, column) => {
        const padding = ' '.repeat(widths[column] - [...cell].length);
        return table.numeric[column] ? padding + cell : cell + padding;
      })
      .join('  ')
      .trimEnd();
  return all.map(render);
}
