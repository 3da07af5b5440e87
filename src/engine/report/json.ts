import type { Report } from '../../shared/report';

/** The Report object itself (DESIGN.md's `--format json` schema). NaN and ±Infinity become null. */
export function jsonReport(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
