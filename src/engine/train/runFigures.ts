import type { FixVerification } from '../../shared/findings';
import type { StepStats } from '../../shared/stats';

export type RunFigures = FixVerification['before'];

/** The before/after figures: last loss, first/last-layer gradient RMS ratio and the worst dead fraction, at the last step. */
export function runFigures(history: StepStats[]): RunFigures {
  const last = history[history.length - 1];
  if (!last) return { finalLoss: NaN, firstLastRatio: NaN, deadFraction: 0 };
  const first = last.layers[0];
  const final = last.layers[last.layers.length - 1];
  return {
    finalLoss: last.loss,
    firstLastRatio: first && final && final.gradRms > 0 ? first.gradRms / final.gradRms : NaN,
    deadFraction: Math.max(0, ...last.layers.map((layer) => layer.deadFraction ?? 0)),
  };
}
