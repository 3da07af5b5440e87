import { THRESHOLDS } from './rules/thresholds';

/**
 * The learning-rate range test (Leslie Smith, "Cyclical Learning Rates for Training Neural
 * Networks", 2017; fastai's `lr_find`, PyTorch Lightning's `Tuner.lr_find`): from the model's
 * initial weights, one batch per step at an exponentially growing rate, the loss recorded at
 * each. Pure: both trainers (TF.js here, PyTorch in python/gradient_lens/lr_range.py) only
 * produce the raw (rate, loss) pairs; the smoothing, the stop and the suggestion are decided
 * here, once.
 */

export interface LrSweep {
  startLr: number;
  endLr: number;
  /** Steps the sweep plans; it stops earlier once the loss has clearly diverged. */
  steps: number;
}

export const DEFAULT_LR_SWEEP: LrSweep = {
  startLr: THRESHOLDS.rangeTestStartLr.value,
  endLr: THRESHOLDS.rangeTestEndLr.value,
  steps: THRESHOLDS.rangeTestSteps.value,
};

/** The rate of sweep step `i`: start · (end/start)^(i/(steps−1)). */
export function sweepRate(sweep: LrSweep, i: number): number {
  const fraction = sweep.steps > 1 ? i / (sweep.steps - 1) : 0;
  return sweep.startLr * Math.pow(sweep.endLr / sweep.startLr, fraction);
}

export interface LrRangePoint {
  lr: number;
  loss: number;
  /** Bias-corrected exponential moving average of the loss (fastai's smoothing). */
  smoothed: number;
}

/** What the range test measured: the curve, its minimum, its steepest fall and the rate it suggests. */
export interface LrRangeResult {
  optimizer: string;
  /** The run's own learning rate, for "lr 0.1 is 40× the range test's 2.5e-3". */
  currentLr: number;
  sweep: LrSweep;
  points: LrRangePoint[];
  /** True when the sweep stopped before its last step because the loss diverged (smoothed > 4× its minimum, or non-finite). */
  stoppedEarly: boolean;
  /** The rate at the smoothed loss's minimum. */
  minLossLr: number;
  minLoss: number;
  /** The rate where the smoothed loss falls fastest against log(rate), before its minimum. */
  steepestLr?: number;
  /** The suggestion: the geometric mean of the steepest fall and min-loss/10 (see `analyseLrRange`). */
  suggestedLr?: number;
  /** Rates whose smoothed loss fell clearly below its start: where training with the rate learns. */
  goodRange?: { low: number; high: number };
  /** Loss at the sweep's first points (the untrained model) and the fall to the minimum, as a fraction of it. */
  startLoss: number;
  relativeFall: number;
  durationMs: number;
  /** Why no rate is suggested (the loss never fell), in words the report can quote. */
  note?: string;
}

/** Bias-corrected EMA of the losses; a non-finite loss ends the series (the sweep has diverged). */
export function smoothLosses(losses: number[], beta: number = THRESHOLDS.rangeTestSmoothing.value): number[] {
  const out: number[] = [];
  let average = 0;
  for (let i = 0; i < losses.length; i++) {
    if (!Number.isFinite(losses[i])) break;
    average = beta * average + (1 - beta) * losses[i];
    out.push(average / (1 - Math.pow(beta, i + 1)));
  }
  return out;
}

/**
 * True once the sweep can stop: the loss is non-finite, or (after a few steps, so the smoothing
 * has settled) its smoothed value is above 4× its minimum so far (Lightning's
 * `early_stop_threshold`; fastai stops at 4× too), or back above its start after a clear fall.
 */
export function sweepDiverged(losses: number[]): boolean {
  const last = losses[losses.length - 1];
  if (last === undefined) return false;
  if (!Number.isFinite(last)) return true;
  const smoothed = smoothLosses(losses);
  if (smoothed.length < THRESHOLDS.rangeTestSkipStart.value) return false;
  const settled = smoothed.slice(THRESHOLDS.rangeTestSkipStart.value - 1);
  const minimum = Math.min(...settled);
  const current = smoothed[smoothed.length - 1];
  if (current > THRESHOLDS.rangeTestDivergeFactor.value * minimum) return true;
  // A cross-entropy on logits saturates near ln C when the rate is far too high, so the 4× stop
  // may never come: once the loss fell clearly and has climbed back above where it started, the
  // rest of the sweep only repeats that (and costs steps).
  const start = settled[0];
  return (start - minimum) / start >= THRESHOLDS.rangeTestReturnFall.value && current > start;
}

/**
 * A sweep that ran all its steps (the PyTorch trainer stops only at a non-finite loss) cut where
 * `sweepDiverged` would have stopped it, so both trainers' curves end by the same rule.
 */
export function truncateAtDivergence(raw: Array<{ lr: number; loss: number }>): Array<{ lr: number; loss: number }> {
  for (let i = 0; i < raw.length; i++) {
    if (sweepDiverged(raw.slice(0, i + 1).map((p) => p.loss))) return raw.slice(0, i + 1);
  }
  return raw;
}

/** Rounds a rate for a file or a message: 1 significant digit, or 2 for 1.5/2.5 (1e-3, 2.5e-3, 3e-2). */
export function roundRate(lr: number): number {
  if (!(lr > 0) || !Number.isFinite(lr)) return lr;
  const exponent = Math.floor(Math.log10(lr));
  const mantissa = lr / Math.pow(10, exponent);
  const steps = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9, 10];
  let best = steps[0];
  for (const s of steps) if (Math.abs(Math.log(s / mantissa)) < Math.abs(Math.log(best / mantissa))) best = s;
  return Number((best * Math.pow(10, exponent)).toPrecision(2));
}

/**
 * The curve's figures from the raw sweep. The suggestion combines the two published rules: the
 * steepest fall of the smoothed loss against log(rate) (Lightning's `suggestion()`, skipping the
 * first points where the smoothing has not settled) and fastai's min-loss rate / 10, as their
 * geometric mean (never above the minimum). Either alone missed the grid's best rate by more
 * than 3× on some of the nets scripts/lr-grid.mjs checks (steepest sits high on LeNet, min/10
 * low on the tanh net whose loss still falls at 10); the mean stayed within 3× on all of them.
 * No suggestion when the loss never fell clearly (`rangeTestMinFall`) or never got below chance
 * level (`chanceLoss`, ln C for a classifier): the rate is then not what holds the model back.
 */
export function analyseLrRange(
  raw: Array<{ lr: number; loss: number }>,
  sweep: LrSweep,
  optimizer: string,
  currentLr: number,
  durationMs: number,
  chanceLoss?: number,
): LrRangeResult {
  const smoothed = smoothLosses(raw.map((p) => p.loss));
  const points: LrRangePoint[] = smoothed.map((s, i) => ({ lr: raw[i].lr, loss: raw[i].loss, smoothed: s }));
  const stoppedEarly = raw.length < sweep.steps;
  const skip = Math.min(THRESHOLDS.rangeTestSkipStart.value, Math.max(0, points.length - 3));
  const startLoss = points.length > 0 ? points[Math.min(skip, points.length - 1)].smoothed : NaN;
  let minIndex = skip;
  for (let i = skip; i < points.length; i++) if (points[i].smoothed < points[minIndex].smoothed) minIndex = i;
  const minPoint = points[minIndex];
  const result: LrRangeResult = {
    optimizer,
    currentLr,
    sweep,
    points,
    stoppedEarly,
    minLossLr: minPoint?.lr ?? NaN,
    minLoss: minPoint?.smoothed ?? NaN,
    startLoss,
    relativeFall: minPoint && startLoss > 0 ? (startLoss - minPoint.smoothed) / startLoss : 0,
    durationMs,
  };
  if (!minPoint || points.length < 5) {
    result.note = 'the sweep diverged before its loss could be read';
    return result;
  }
  if (result.relativeFall < THRESHOLDS.rangeTestMinFall.value) {
    result.note = `the loss never fell more than ${Math.round(result.relativeFall * 100)} % at any rate from ${sweep.startLr} to ${fmtRate(points[points.length - 1].lr)}`;
    return result;
  }
  if (chanceLoss !== undefined && minPoint.smoothed > (1 - THRESHOLDS.chanceLossBand.value) * chanceLoss) {
    result.note = `the loss never got clearly below chance level (lowest ${Number(minPoint.smoothed.toPrecision(3))} against ${Number(chanceLoss.toPrecision(3))}) at any rate from ${sweep.startLr} to ${fmtRate(points[points.length - 1].lr)}`;
    return result;
  }
  // Slope per unit of ln(rate), central differences as numpy.gradient (what Lightning uses).
  let steepest = -1;
  let steepestSlope = 0;
  for (let i = Math.max(skip, 1); i < minIndex; i++) {
    const slope = (points[i + 1].smoothed - points[i - 1].smoothed) / Math.log(points[i + 1].lr / points[i - 1].lr);
    if (slope < steepestSlope) {
      steepestSlope = slope;
      steepest = i;
    }
  }
  const tenth = minPoint.lr / 10;
  let suggestion = tenth;
  if (steepest >= 0) {
    result.steepestLr = points[steepest].lr;
    suggestion = Math.sqrt(result.steepestLr * tenth);
  }
  result.suggestedLr = Math.min(suggestion, minPoint.lr);
  // The good region: rates whose smoothed loss is within the lower half of the fall to the minimum.
  const halfway = minPoint.smoothed + 0.5 * (startLoss - minPoint.smoothed);
  let low = minIndex;
  while (low > skip && points[low - 1].smoothed <= halfway) low--;
  let high = minIndex;
  while (high + 1 < points.length && points[high + 1].smoothed <= halfway) high++;
  result.goodRange = { low: points[low].lr, high: points[high].lr };
  return result;
}

/** How far the run's rate is from the suggestion, as a factor ≥ 1 and a direction. */
export function rateOffset(result: LrRangeResult): { factor: number; direction: 'above' | 'below' } | undefined {
  if (!result.suggestedLr) return undefined;
  const ratio = result.currentLr / result.suggestedLr;
  return ratio >= 1 ? { factor: ratio, direction: 'above' } : { factor: 1 / ratio, direction: 'below' };
}

function fmtRate(lr: number): string {
  return Number(lr.toPrecision(2)).toExponential().replace(/\.?0+e/, 'e').replace('e+', 'e');
}

/** A rate as the messages quote it: 2.5e-3, 0.1, 1e-6. */
export function formatRate(lr: number): string {
  if (!Number.isFinite(lr)) return String(lr);
  if (lr >= 0.01 && lr < 100) return String(Number(lr.toPrecision(2)));
  return fmtRate(lr);
}
