import { fmt, History, median, round } from './history';
import { describeProgress, progressEvidence, type Rule } from './rule';

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

// ──── learning-rate-too-high ────

export const learningRateTooHighRule: Rule = {
  code: 'learning-rate-too-high',
  live: false,
  explainedBy: [],
  evaluate(h) {
    const progress = h.lossProgress();
    const update = earlyUpdateRatio(h);
    if (!update || update.ratio <= h.threshold('updateRatioHigh')) return undefined;
    const osc = lossOscillation(h);
    const oscillating = osc.amplitude >= h.threshold('oscillationAmplitude') && osc.signFlips >= h.threshold('oscillationSignFlips');
    if (!progress.diverging && !oscillating && progress.learning) return undefined;
    const lr = h.ctx.options.learningRate;
    return {
      code: 'learning-rate-too-high',
      severity: progress.diverging ? 'error' : 'warning',
      layer: update.layer,
      message: `learning rate ${fmt(lr)} (${h.ctx.options.optimizer}) moves ${update.layer}'s weights by ${fmt(update.ratio)} of their norm per step in the first steps (healthy ≈ 1e-3, limit ${fmt(h.threshold('updateRatioHigh'))})${optimizerNote(h)}; ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
      evidence: { ...progressEvidence(progress), learningRate: lr, optimizer: h.ctx.options.optimizer, updateRatio: round(update.ratio), lossAmplitude: round(osc.amplitude) },
      fixes: [],
    };
  },
};

// ──── learning-rate-too-low ────

export const learningRateTooLowRule: Rule = {
  code: 'learning-rate-too-low',
  live: false,
  explainedBy: ['vanishing-gradient', 'dying-relu', 'saturated-activation', 'exploding-gradient', 'non-finite'],
  evaluate(h) {
    if (h.length < h.threshold('minStepsToJudgeProgress')) return undefined;
    const progress = h.lossProgress();
    if (progress.learning || progress.diverging) return undefined;
    const update = largestUpdateRatio(h);
    if (!update || update.ratio >= h.threshold('updateRatioLow')) return undefined;
    const lr = h.ctx.options.learningRate;
    return {
      code: 'learning-rate-too-low',
      severity: 'warning',
      message: `learning rate ${fmt(lr)} (${h.ctx.options.optimizer}) moves the weights by at most ${fmt(update.ratio)} of their norm per step (${update.layer}; healthy ≈ 1e-3, limit ${fmt(h.threshold('updateRatioLow'))}); ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
      evidence: { ...progressEvidence(progress), learningRate: lr, optimizer: h.ctx.options.optimizer, updateRatio: round(update.ratio) },
      fixes: [],
      relatedLayers: [update.layer],
    };
  },
};

// ──── oscillating-loss ────

export const oscillatingLossRule: Rule = {
  code: 'oscillating-loss',
  live: false,
  explainedBy: ['non-finite'],
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
