// Stable codes from DESIGN.md. The JSON report, SARIF rule ids and VS Code diagnostics all use
// these strings verbatim: never rename one, only add.

export const FINDING_CODES = [
  'vanishing-gradient',
  'exploding-gradient',
  'non-finite',
  'dying-relu',
  'saturated-activation',
  'poor-initialization',
  'learning-rate-too-high',
  'learning-rate-too-low',
  'oscillating-loss',
  'slow-convergence',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export const FIX_CODES = [
  'use-relu',
  'use-leaky-relu',
  'add-batch-normalization',
  'change-initializer',
  'lower-learning-rate',
  'raise-learning-rate',
  'clip-gradients',
  'change-optimizer',
] as const;
export type FixCode = (typeof FIX_CODES)[number];

export type Severity = 'error' | 'warning' | 'info';

export const OPTIMIZERS = ['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad', 'adadelta', 'adamax'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export const REPORT_FORMATS = ['text', 'markdown', 'json', 'sarif'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** Where each code is explained for users (diagnostic `code.target`, SARIF helpUri). */
export const DOCS_BASE = 'https://github.com/gradient-lens/gradient-lens/blob/main/README.md';
export function docsLink(code: FindingCode): string {
  return `${DOCS_BASE}#${code}`;
}
