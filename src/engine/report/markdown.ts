import type { Report } from '../../shared/report';
import { comparisonHeadline, comparisonTable, layerTable, lrRangeLines, progressLine, runFacts, verificationTable, type Table } from './reportTables';

/** The same content as the text report, as GitHub-flavoured Markdown (for CI summaries and PRs). */
export function markdownReport(report: Report): string {
  const parts: string[] = ['# Gradient Lens report', ''];
  parts.push(...runFacts(report).map(([key, value]) => `- **${key}**: ${escapeInline(value)}`));

  const layers = layerTable(report);
  if (layers.rows.length > 0) parts.push('', '## Layers (kernel gradient RMS)', '', ...markdownTable(layers));

  const progress = progressLine(report);
  if (progress) parts.push('', `**Progress**: ${progress}`);

  parts.push('', `## Findings (${report.findings.length})`, '');
  parts.push(...(report.findings.length === 0 ? ['No findings.'] : markdownTable(findingTable(report))));

  const range = lrRangeLines(report);
  if (range.length > 0) parts.push('', '## Learning-rate range test', '', ...range.map((line) => `- ${escapeInline(line)}`));

  const verifications = verificationTable(report);
  if (verifications.rows.length > 0) parts.push('', '## Fix verification (before → after)', '', ...markdownTable(verifications));

  const headline = comparisonHeadline(report);
  if (headline) parts.push('', '## Fixes compared (best first)', '', escapeInline(headline), '', ...markdownTable(comparisonTable(report)));

  if (report.warnings?.length) parts.push('', '## Warnings', '', ...report.warnings.map((w) => `- ${escapeInline(w)}`));
  return `${parts.join('\n')}\n`;
}

function findingTable(report: Report): Table {
  return {
    header: ['severity', 'code', 'layer', 'step', 'message', 'top fix'],
    numeric: [false, false, false, true, false, false],
    rows: report.findings.map((finding) => [
      finding.severity,
      `\`${finding.code}\``,
      finding.layer ?? '–',
      finding.step === undefined ? '–' : String(finding.step),
      finding.message,
      finding.fixes[0]?.title ?? '–',
    ]),
  };
}

function markdownTable(table: Table): string[] {
  const row = (cells: string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  const rule = `|${table.numeric.map((numeric) => (numeric ? ' ---: ' : ' --- ')).join('|')}|`;
  return [row(table.header), rule, ...table.rows.map(row)];
}

function escapeCell(text: string): string {
  return escapeInline(text).replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

/** Keeps user text (layer names, paths, messages) from turning into Markdown markup. */
function escapeInline(text: string): string {
  return text.replace(/([\\*_<>[\]])/g, '\\$1');
}
