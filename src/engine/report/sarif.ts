import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Log, Result } from 'sarif';
import { docsLink, FINDING_CODES, type FindingCode, type Severity } from '../../shared/codes';
import type { Finding } from '../../shared/findings';
import type { Report } from '../../shared/report';
import { RULE_DESCRIPTIONS } from './ruleDescriptions';

const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
const TOOL_NAME = 'Gradient Lens';
const TOOL_URI = 'https://github.com/gradient-lens/gradient-lens';

const LEVELS: Record<Severity, Result.level> = { error: 'error', warning: 'warning', info: 'note' };

export interface SarifOptions {
  /** Result locations are relative to this folder when the model file is inside it (code scanning wants repo-relative paths). */
  baseDir?: string;
}

/** SARIF 2.1.0 (OASIS): one run, one rule per finding code, one result per finding on its layer's line. */
export function sarifReport(report: Report, options: SarifOptions = {}): string {
  const ruleIds: FindingCode[] = [...FINDING_CODES];
  const artifactUri = artifactUriFor(report.model.path, options.baseDir ?? process.cwd());
  const sarif: Log = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: TOOL_NAME,
            informationUri: TOOL_URI,
            rules: ruleIds.map((id) => ({
              id,
              name: ruleName(id),
              shortDescription: { text: RULE_DESCRIPTIONS[id] },
              helpUri: docsLink(id),
            })),
          },
        },
        artifacts: [{ location: { uri: artifactUri } }],
        results: report.findings.map((finding) => resultFor(finding, report, artifactUri, ruleIds.indexOf(finding.code))),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function resultFor(finding: Finding, report: Report, artifactUri: string, ruleIndex: number): Result {
  const range = report.model.layers.find((layer) => layer.name === finding.layer)?.range;
  // A finding about the whole run (e.g. the learning rate) points at the top of the file.
  const region = range ? { startLine: range.start.line + 1, startColumn: range.start.character + 1 } : { startLine: 1, startColumn: 1 };
  const fix = finding.fixes[0];
  return {
    ruleId: finding.code,
    ruleIndex,
    level: LEVELS[finding.severity],
    message: { text: fix ? `${asSentence(finding.message)} Suggested fix: ${asSentence(fix.title)}` : finding.message },
    locations: [{ physicalLocation: { artifactLocation: { uri: artifactUri, index: 0 }, region } }],
    properties: { evidence: finding.evidence, ...(finding.step === undefined ? {} : { step: finding.step }) },
  };
}

function asSentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** "vanishing-gradient" → "VanishingGradient" (SARIF's rule `name` is an identifier-like label). */
function ruleName(code: FindingCode): string {
  return code.replace(/(^|-)(\w)/g, (_, __, letter: string) => letter.toUpperCase());
}

function artifactUriFor(modelPath: string, baseDir: string): string {
  const absolute = path.resolve(baseDir, modelPath);
  const relative = path.relative(baseDir, absolute);
  if (relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative)) return relative.split(path.sep).map(encodeURIComponent).join('/');
  return pathToFileURL(absolute).href;
}
