import type { FindingCode, Severity } from '../codes';
import type { Finding } from '../findings';
import { round, type History, type LossProgress } from './history';

/** One finding code's decision over the history. */
export interface Rule {
  code: FindingCode;
  /** True when the rule may decide during the run: its evidence cannot be undone by later steps. */
  live: boolean;
  /** Root causes: when one of these was found at warning or above, this rule stays quiet. */
  explainedBy: FindingCode[];
  /** A finding when the rule is certain; `final` is true once the run has ended. */
  evaluate(history: History, final: boolean): Finding | undefined;
}

/**
 * The severity of a gradient or activation symptom, gated on learning progress: without a
 * progress symptom it is at most `info` (healthy shallow nets can have large first/last ratios).
 */
export function gatedSeverity(progress: LossProgress): Severity {
  if (progress.stuckAtChance || progress.diverging) return 'error';
  if (!progress.learning) return 'warning';
  return 'info';
}

/** The sentence about the loss that every gated message ends with. */
export function describeProgress(progress: LossProgress, steps: number, numClasses: number, fmt: (x: number) => string): string {
  if (progress.nonFiniteLoss) return `loss became non-finite within ${steps} steps`;
  if (progress.stuckAtChance) {
    return `loss stuck at ${fmt(progress.finalLoss)} ≈ ln ${numClasses} after ${steps} steps`;
  }
  if (progress.diverging) return `loss rose from ${fmt(progress.initialLoss)} to ${fmt(progress.finalLoss)} in ${steps} steps`;
  if (!progress.learning) return `loss only went from ${fmt(progress.initialLoss)} to ${fmt(progress.finalLoss)} in ${steps} steps`;
  return `loss still fell from ${fmt(progress.initialLoss)} to ${fmt(progress.finalLoss)}, so this may be harmless`;
}

export function progressEvidence(progress: LossProgress): Record<string, number> {
  return {
    initialLoss: round(progress.initialLoss),
    finalLoss: round(progress.finalLoss),
    chanceLoss: round(progress.chanceLoss),
    relativeImprovement: round(progress.relativeImprovement),
  };
}
