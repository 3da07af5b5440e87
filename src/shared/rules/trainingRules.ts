import { fmt, History, median, round } from './history';
import { describeProgress, progressEvidence, type Rule } from './rule';
import { formatRate, rateOffset } from '../lrRange';
import type { FindingCode } from '../codes';
import type { Finding } from '../findings';

/** Per layer, the median ‖ΔW‖/‖W‖ over the finite steps; the largest of them (the layer that moves most). */
function largestUpdateRatio(h: History): { layer: string; ratio: number } | undefined {
  const finite = h.finiteSteps();
  let best: { layer: string; ratio: number } | undefined;
  for (const name of h.gradientLayers()) {
    const ratio = median(finite.map((s) => s.layers.find((l) => l.layer === name)?.updateRatio).filter((r): r is number => r !== undefined && Number.isFinite(r)));
    if (Number.isFinite(ratio) && (!best || ratio > best.ratio)) best = { layer: name, ratio };
  }
  return best;
}

/** Update ratios at the first steps, before an explosion makes every later figure meaningless. */
export function earlyUpdateRatio(h: History): { layer: string; ratio: number } | undefined {
  const early = h.steps.slice(0, h.threshold('lossWindowSteps'));
  let best: { layer: string; ratio: number } | undefined;
  for (const name of h.gradientLayers()) {
    const values = early.map((s) => s.layers.find((l) => l.layer === name)?.updateRatio).filter((r): r is number => r !== undefined && Number.isFinite(r));
    const ratio = median(values);
    if (Number.isFinite(ratio) && (!best || ratio > best.ratio)) best = { layer: name, ratio };
  }
  return best;
}

/** The loss's step-to-step swings over the second half of the run. */
export function lossOscillation(h: History): { amplitude: number; signFlips: number } {
  // Swings are measured against ln C, not the loss level: near a loss of 0 any batch noise is a large fraction of it.
  const losses = h.steps.slice(Math.floor(h.steps.length / 2)).map((s) => s.loss).filter(Number.isFinite);
  if (losses.length < 4) return { amplitude: 0, signFlips: 0 };
  const diffs = losses.slice(1).map((l, i) => l - losses[i]);
  const flips = diffs.slice(1).filter((d, i) => Math.sign(d) !== Math.sign(diffs[i]) && d !== 0).length;
  return { amplitude: median(diffs.map(Math.abs)) / h.chanceLoss, signFlips: flips / (diffs.length - 1) };
}

function optimizerNote(h: History): string {
  const adaptive = h.ctx.options.optimizer !== 'sgd' && h.ctx.options.optimizer !== 'momentum';
  return adaptive ? ` (under ${h.ctx.options.optimizer} the update ratio is a weaker signal than under SGD)` : '';
}

/** Root causes whose fixes are not the rate. */
const ARCHITECTURE_CAUSES: FindingCode[] = ['vanishing-gradient', 'dying-relu', 'saturated-activation', 'poor-initialization'];

/**
 * True when an architecture cause (vanishing gradient, dead units, saturation, poor
 * initialisation) explains the run at warning or above without a sign of a too-large first
 * update (DeepDiagnosis' 0.1): the weaker rate signals then stay quiet, and the engine skips the
 * range test.
 */
export function architectureExplains(findings: Iterable<Finding>, h: History): boolean {
  for (const f of findings) {
    const rateHigh = typeof f.evidence.earlyUpdateRatio === 'number' && f.evidence.earlyUpdateRatio > h.threshold('updateRatioHigh');
    if (f.severity !== 'info' && ARCHITECTURE_CAUSES.includes(f.code) && !rateHigh) return true;
  }
  return false;
}

/** True under optimizers whose step is the rate times the gradient (the update ratio is telling there; FACTS.md). */
function sgdLike(h: History): boolean {
  return h.ctx.options.optimizer === 'sgd' || h.ctx.options.optimizer === 'momentum';
}

/** Mean loss per window of `lossWindowSteps`·2 steps; the last window's rise over the lowest one, as a fraction. */
export function lossRise(h: History): number {
  const losses = h.steps.map((s) => s.loss).filter(Number.isFinite);
  const size = 2 * h.threshold('lossWindowSteps');
  if (losses.length < 3 * size) return 0;
  const means: number[] = [];
  for (let end = losses.length; end - size >= 0; end -= size) means.unshift(losses.slice(end - size, end).reduce((a, b) => a + b, 0) / size);
  const lowest = Math.min(...means);
  return lowest > 0 ? (means[means.length - 1] - lowest) / lowest : 0;
}

/** What the range test says of the run's rate: far above or below its suggestion and outside its good region, by what factor. */
function rangeVerdict(h: History): { direction: 'above' | 'below'; factor: number; suggested: number } | undefined {
  const range = h.lrRange;
  if (!range?.suggestedLr || !range.goodRange) return undefined;
  const offset = rateOffset(range);
  if (!offset || offset.factor < h.threshold('rangeTestOffFactor')) return undefined;
  const lr = h.ctx.options.learningRate;
  const outside = offset.direction === 'above' ? lr > range.goodRange.high : lr < range.goodRange.low;
  return outside ? { ...offset, suggested: range.suggestedLr } : undefined;
}

/** "lr 0.1 is 40× the range test's 2.5e-3 (good region 1e-3–1e-2)". */
function rangeSentence(h: History, verdict: { direction: 'above' | 'below'; factor: number; suggested: number }): string {
  const range = h.lrRange!;
  const factor = verdict.factor >= 1e4 ? fmt(verdict.factor) : String(verdict.factor >= 10 ? Math.round(verdict.factor) : Number(verdict.factor.toPrecision(2)));
  const relation = verdict.direction === 'above' ? `${factor}× the range test's ${formatRate(verdict.suggested)}` : `1/${factor} of the range test's ${formatRate(verdict.suggested)}`;
  const region = range.goodRange ? ` (good region ${formatRate(range.goodRange.low)}–${formatRate(range.goodRange.high)})` : '';
  return `lr ${formatRate(h.ctx.options.learningRate)} is ${relation}${region}`;
}

function rangeEvidence(h: History): Record<string, number> {
  const range = h.lrRange;
  if (!range?.suggestedLr) return {};
  return {
    suggestedLearningRate: round(range.suggestedLr),
    rangeTestMinLossLr: round(range.minLossLr),
    rateOverSuggestion: round(h.ctx.options.learningRate / range.suggestedLr),
  };
}

/**
 * True when the run leaves the learning rate suspected, so the range test is worth its cost
 * (≤ one plain run): the loss did not learn, rose back over the run, swings large against its
 * trend, or the update ratio is far from ~1e-3 (above it only under SGD-like optimizers, where
 * it is telling). A healthy run suspects nothing and costs nothing extra.
 */
export function learningRateSuspected(h: History): boolean {
  if (h.length === 0) return false;
  const progress = h.lossProgress();
  if (!progress.learning) return true;
  if (lossRise(h) > h.threshold('lossRiseOverWindows')) return true;
  if (lossOscillation(h).amplitude >= h.threshold('oscillationSuspectAmplitude')) return true;
  const early = earlyUpdateRatio(h);
  if (sgdLike(h) && early && early.ratio > h.threshold('updateRatioHighSgd')) return true;
  const largest = largestUpdateRatio(h);
  return largest !== undefined && largest.ratio < h.threshold('updateRatioLowSuspect');
}

// ──── learning-rate-too-high ────

/**
 * Three ways to see it, none of which needs an explosion: the first updates move the weights by
 * more than 0.1 of their norm (DeepDiagnosis) with a loss that diverges, swings or stalls; under
 * SGD-like optimizers a ratio 10× above the ~1e-3 rule of thumb with such a loss; or the rate
 * far above the range test's good region while the loss stalls, climbs back or swings.
 */
export const learningRateTooHighRule: Rule = {
  code: 'learning-rate-too-high',
  live: false,
  explainedBy: [],
  evaluate(h) {
    const progress = h.lossProgress();
    const update = earlyUpdateRatio(h);
    const osc = lossOscillation(h);
    const oscillating = osc.amplitude >= h.threshold('oscillationAmplitude') && osc.signFlips >= h.threshold('oscillationSignFlips');
    const rise = lossRise(h);
    const poorProgress = progress.diverging || oscillating || !progress.learning;
    const verdict = rangeVerdict(h);
    const rangeSaysHigh = verdict?.direction === 'above';
    // The range test measured the rate fine: the update-ratio heuristics must not overrule it.
    const rangeSaysFine = h.lrRange?.suggestedLr !== undefined && !verdict;
    // Adam's first step moves every weight by about the rate whatever its gradient (m/√v = ±1
    // after bias correction): under adaptive optimizers a large ratio counts only beside a loss
    // long enough to judge, or one that diverged — not after one step of a one-step run.
    const ratioTelling = sgdLike(h) || progress.diverging || h.length >= h.threshold('minStepsToJudgeProgress');
    const huge = ratioTelling && update !== undefined && update.ratio > h.threshold('updateRatioHigh') && poorProgress;
    // The SGD heuristic is the weakest signal: it yields to a measured rate and to an architecture cause.
    const sgdHigh =
      !rangeSaysFine && !architectureExplains(h.found.values(), h) && sgdLike(h) && update !== undefined && update.ratio > h.threshold('updateRatioHighSgd') && poorProgress;
    const measuredHigh =
      rangeSaysHigh && (!progress.learning || rise > h.threshold('lossRiseOverWindows') || osc.amplitude >= h.threshold('oscillationSuspectAmplitude'));
    if (!huge && !sgdHigh && !measuredHigh) return undefined;
    const lr = h.ctx.options.learningRate;
    const parts: string[] = [];
    if (rangeSaysHigh) parts.push(rangeSentence(h, verdict!));
    else {
      // Found by the update ratio: the range test, when it ran and agrees, is still the number to quote.
      const offset = h.lrRange ? rateOffset(h.lrRange) : undefined;
      if (offset?.direction === 'above' && offset.factor >= 2) parts.push(`lr ${formatRate(lr)} is ${offset.factor >= 10 ? Math.round(offset.factor) : Number(offset.factor.toPrecision(2))}× the range test's ${formatRate(h.lrRange!.suggestedLr!)}`);
    }
    if (update && (huge || sgdHigh || !rangeSaysHigh)) {
      parts.push(`${parts.length > 0 ? 'it' : `learning rate ${fmt(lr)} (${h.ctx.options.optimizer})`} moves ${update.layer}'s weights by ${fmt(update.ratio)} of their norm per step in the first steps (healthy ≈ 1e-3)${optimizerNote(h)}`);
    }
    if (rise > h.threshold('lossRiseOverWindows')) parts.push(`the loss climbed back ${fmt(rise * 100)} % above its lowest ${2 * h.threshold('lossWindowSteps')}-step mean`);
    else if (osc.amplitude >= h.threshold('oscillationSuspectAmplitude') && progress.learning) parts.push(`the loss swings by ${fmt(osc.amplitude * 100)} % of ln ${h.ctx.numClasses} from step to step`);
    return {
      code: 'learning-rate-too-high',
      severity: progress.diverging ? 'error' : 'warning',
      ...(update ? { layer: update.layer } : {}),
      message: `${parts.join('; ')}; ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
      evidence: {
        ...progressEvidence(progress),
        learningRate: lr,
        optimizer: h.ctx.options.optimizer,
        ...(update ? { updateRatio: round(update.ratio) } : {}),
        lossAmplitude: round(osc.amplitude),
        lossRise: round(rise),
        ...rangeEvidence(h),
      },
      fixes: [],
    };
  },
};

// ──── learning-rate-too-low ────

/**
 * The loss stays flat and the weights barely move: below 1e-5 of their norm per step
 * (DeepDiagnosis) on its own, or below 1e-4 (TheDeepChecker) when the range test confirms the
 * rate sits far below its good region.
 */
export const learningRateTooLowRule: Rule = {
  code: 'learning-rate-too-low',
  live: false,
  explainedBy: ['vanishing-gradient', 'dying-relu', 'saturated-activation', 'exploding-gradient', 'non-finite'],
  evaluate(h) {
    if (h.length < h.threshold('minStepsToJudgeProgress')) return undefined;
    const progress = h.lossProgress();
    if (progress.learning || progress.diverging) return undefined;
    const update = largestUpdateRatio(h);
    if (!update) return undefined;
    const verdict = rangeVerdict(h);
    const rangeSaysLow = verdict?.direction === 'below';
    const rangeSaysFine = h.lrRange?.suggestedLr !== undefined && !verdict;
    const tiny = update.ratio < h.threshold('updateRatioLow') && !rangeSaysFine;
    const confirmed = rangeSaysLow && update.ratio < h.threshold('updateRatioLowSuspect');
    // Under SGD the range test alone is enough: plain SGD at a far too low rate can still move the
    // weights 1e-4 of their norm per step (the gradient is large), and learns nothing.
    const measuredLow = rangeSaysLow && sgdLike(h);
    if (!tiny && !confirmed && !measuredLow) return undefined;
    const lr = h.ctx.options.learningRate;
    const moves = `moves the weights by at most ${fmt(update.ratio)} of their norm per step (${update.layer}; healthy ≈ 1e-3)`;
    const lead = rangeSaysLow ? `${rangeSentence(h, verdict!)}; it ${moves}` : `learning rate ${fmt(lr)} (${h.ctx.options.optimizer}) ${moves}`;
    return {
      code: 'learning-rate-too-low',
      severity: 'warning',
      message: `${lead}; ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
      evidence: { ...progressEvidence(progress), learningRate: lr, optimizer: h.ctx.options.optimizer, updateRatio: round(update.ratio), ...rangeEvidence(h) },
      fixes: [],
      relatedLayers: [update.layer],
    };
  },
};

// ──── oscillating-loss ────

/** Oscillation the learning rate does not explain (a rate finding at warning or above takes it over). */
export const oscillatingLossRule: Rule = {
  code: 'oscillating-loss',
  live: false,
  explainedBy: ['non-finite', 'learning-rate-too-high'],
  evaluate(h) {
    const osc = lossOscillation(h);
    if (osc.amplitude < h.threshold('oscillationAmplitude') || osc.signFlips < h.threshold('oscillationSignFlips')) return undefined;
    const progress = h.lossProgress();
    return {
      code: 'oscillating-loss',
      severity: progress.learning ? 'info' : 'warning',
      message: `the loss swings by ${fmt(osc.amplitude * 100)} % of ln ${h.ctx.numClasses} from step to step and changes direction on ${fmt(osc.signFlips * 100)} % of steps (second half of the run; limits ${fmt(h.threshold('oscillationAmplitude') * 100)} % and ${fmt(h.threshold('oscillationSignFlips') * 100)} %); ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
      evidence: { ...progressEvidence(progress), lossAmplitude: round(osc.amplitude), signFlipFraction: round(osc.signFlips), learningRate: h.ctx.options.learningRate },
      fixes: [],
    };
  },
};

// ──── slow-convergence ────

/** The catch-all progress symptom: the loss did not learn (barely fell, or ended at chance level) and no other rule found why. */
export const slowConvergenceRule: Rule = {
  code: 'slow-convergence',
  live: false,
  explainedBy: [
    'vanishing-gradient',
    'exploding-gradient',
    'non-finite',
    'dying-relu',
    'saturated-activation',
    'poor-initialization',
    'learning-rate-too-high',
    'learning-rate-too-low',
    'oscillating-loss',
  ],
  evaluate(h) {
    if (h.length < h.threshold('minStepsToJudgeProgress')) return undefined;
    const progress = h.lossProgress();
    if (progress.diverging || progress.learning) return undefined;
    const update = largestUpdateRatio(h);
    const why = progress.stuckAtChance
      ? 'a model that learns ends clearly below chance level'
      : `a ${fmt(progress.relativeImprovement * 100)} % fall; a learning model falls ≥ ${fmt(h.threshold('minRelativeImprovement') * 100)} %`;
    return {
      code: 'slow-convergence',
      severity: 'warning',
      message: `${describeProgress(progress, h.length, h.ctx.numClasses, fmt)} (${why})${update ? `; the largest update ratio is ${fmt(update.ratio)} (${update.layer})` : ''}`,
      evidence: { ...progressEvidence(progress), ...(update ? { updateRatio: round(update.ratio) } : {}), steps: h.length },
      fixes: [],
    };
  },
};
