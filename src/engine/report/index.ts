import type { ReportFormat } from '../../shared/codes';
import type { Report } from '../../shared/report';
import { jsonReport } from './json';
import { markdownReport } from './markdown';
import { sarifReport, type SarifOptions } from './sarif';
import { textReport } from './text';

export type { SarifOptions as ReportOptions };

/** The report in one of the CLI's `--format`s; `options.baseDir` anchors SARIF's relative paths (default: the current folder). */
export function formatReport(report: Report, format: ReportFormat, options: SarifOptions = {}): string {
  switch (format) {
    case 'text':
      return textReport(report);
    case 'markdown':
      return markdownReport(report);
    case 'json':
      return jsonReport(report);
    case 'sarif':
      return sarifReport(report, options);
    default: {
      const unknown: never = format;
      throw new Error(`unknown report format ${String(unknown)}`);
    }
  }
}
