import type { FindingCode, FixCode, Severity } from './codes';
import type { TextEdit } from './textRange';

/** A fix the model file has no place for (e.g. gradient clipping in a Keras 2 file without training config). */
export interface SettingChange {
  key: string; // e.g. "gradientLens.learningRate"
  value: unknown;
}

export interface Fix {
  code: FixCode;
  title: string;
  /** Edits to the model file, against the text the finding was computed from. */
  edits: TextEdit[];
  /** Set when the fix is a setting rather than an edit (edits is then empty). */
  setting?: SettingChange;
}

export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** Name of the layer where the problem starts, when it is local to a layer. */
  layer?: string;
  /** Step at which the rule became certain. */
  step?: number;
  message: string;
  /** Every number the message quotes, by name. */
  evidence: Record<string, number | string | boolean>;
  /** Ordered best first. */
  fixes: Fix[];
  /** Other layers the finding refers to (upstream/downstream), for related information. */
  relatedLayers?: string[];
}

/** Before/after of one applied fix, from `--verify-fixes`. */
export interface FixVerification {
  findingCode: FindingCode;
  fixCode: FixCode;
  layer?: string;
  before: { finalLoss: number; firstLastRatio: number; deadFraction: number };
  after: { finalLoss: number; firstLastRatio: number; deadFraction: number };
  /** Finding codes still present after the fix. */
  remaining: FindingCode[];
  error?: string;
}

/** What one run ended with: the figures fixes are compared by. */
export interface RunOutcome {
  /** Mean loss over the last steps (one batch is noisy; `lossWindowSteps` of them). */
  finalLoss: number;
  /** Mean accuracy over the same steps. */
  accuracy: number;
  firstLastRatio: number;
  deadFraction: number;
  /** The loss at every step, for the side-by-side curves. */
  loss: number[];
  steps: number;
  durationMs: number;
}

/** One candidate of `--compare-fixes`: a fix of the top finding, applied in memory and rerun with the same seed and steps. */
export interface FixCandidateResult {
  fixCode: FixCode;
  title: string;
  /** 1 = best; candidates that failed come last, unranked (0). */
  rank: number;
  outcome?: RunOutcome;
  /** Finding codes (warning or error) the rerun still reports. */
  remaining: FindingCode[];
  error?: string;
}

/** `--compare-fixes`: the top finding, the run as it was, and its candidate fixes ranked by measured outcome. */
export interface FixComparison {
  findingCode: FindingCode;
  layer?: string;
  baseline: RunOutcome;
  candidates: FixCandidateResult[];
  /** Candidate runs at once (one process each, one per core). */
  parallel: number;
  durationMs: number;
}
