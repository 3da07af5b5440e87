import type { StepStats } from '../stats';
import { fmt, History, median, round, type LossProgress } from './history';
import { describeProgress, gatedSeverity, progressEvidence, type Rule } from './rule';

// ──── non-finite ────

/** NaN or Infinity in the loss or any gradient: certain the moment it happens. */
export const nonFiniteRule: Rule = {
  code: 'non-finite',
  live: true,
  explainedBy: [],
  evaluate(h, final) {
    const broken = (s: StepStats) => !Number.isFinite(s.loss) || s.layers.some((l) => l.gradNonFinite > 0 || !Number.isFinite(l.gradRms));
    // Live, every step is checked as it arrives, so only the newest needs looking at.
    const index = final ? h.steps.findIndex(broken) : broken(h.steps[h.length - 1]) ? h.length - 1 : -1;
    if (index < 0) return undefined;
    const step = h.steps[index];
    const brokenLayer = step.layers.find((l) => l.gradNonFinite > 0 || !Number.isFinite(l.gradRms));
    const previous = index > 0 ? h.steps[index - 1] : undefined;
    const lastFiniteLoss = previous?.loss ?? NaN;
    const where = !brokenLayer
      ? 'the loss is non-finite'
      : brokenLayer.gradNonFinite > 0
        ? `${brokenLayer.layer} gradient has ${brokenLayer.gradNonFinite} non-finite values`
        : Number.isFinite(brokenLayer.gradMaxAbs)
          ? // Every value finite, yet the norm is not: their squares' sum passed float32's 3.4e38.
            `${brokenLayer.layer} gradient norm overflows float32 (RMS ${fmt(brokenLayer.gradRms)}, every value finite, the largest ${fmt(brokenLayer.gradMaxAbs)})`
          : `${brokenLayer.layer} gradient is non-finite (RMS ${fmt(brokenLayer.gradRms)})`;
    const before = previous ? `; the step before, loss was ${fmt(lastFiniteLoss)} and the largest gradient RMS ${fmt(maxRms(previous.layers))}` : '';
    return {
      code: 'non-finite',
      severity: 'error',
      layer: brokenLayer?.layer,
      step: step.step,
      message: `${where} at step ${step.step} (loss ${fmt(step.loss)})${before}: training has broken down`,
      evidence: {
        step: step.step,
        loss: String(step.loss),
        nonFiniteValues: brokenLayer?.gradNonFinite ?? 0,
        ...(previous ? { lastFiniteLoss: round(lastFiniteLoss), maxGradRmsBefore: round(maxRms(previous.layers)) } : {}),
      },
      fixes: [],
    };
  },
};

function maxRms(layers: { gradRms: number }[]): number {
  return Math.max(...layers.map((l) => (Number.isFinite(l.gradRms) ? l.gradRms : 0)));
}

// ──── exploding-gradient ────

/**
 * Gradients that grow by orders of magnitude over the steps, are huge in absolute terms, or
 * are far larger in the early layers than in the last (AUTOTRAINER's ratio > 70). Also the
 * softmax trap of FACTS.md: an exploded net with a softmax output reads exactly-zero gradients
 * and a loss far above ln C, which is explosion, not vanishing.
 */
export const explodingRule: Rule = {
  code: 'exploding-gradient',
  live: true,
  explainedBy: [],
  evaluate(h, final) {
    if (!final && !newlyBroken(h)) return undefined;
    const finite = h.finiteSteps();
    const layers = h.gradientLayers();
    if (finite.length === 0 || layers.length === 0) return undefined;
    const progress = h.lossProgress();
    const brokeDown = progress.nonFiniteLoss || h.steps.some((s) => s.layers.some((l) => l.gradNonFinite > 0));

    type Peak = { layer: string; growth: number; startRms: number; peakRms: number; peakStep: number };
    const peaks: Peak[] = [];
    for (const name of layers) {
      const series = finite.map((s) => ({ step: s.step, stats: s.layers.find((l) => l.layer === name) })).filter((x) => x.stats);
      if (series.length === 0) continue;
      const startRms = series[0].stats!.gradRms;
      let peak = series[0];
      for (const x of series) if (x.stats!.gradRms > peak.stats!.gradRms) peak = x;
      const growth = startRms > 0 ? peak.stats!.gradRms / startRms : peak.stats!.gradRms > 0 ? Infinity : 1;
      peaks.push({ layer: name, growth, startRms, peakRms: peak.stats!.gradRms, peakStep: peak.step });
    }
    const grows = (p: Peak) => p.growth >= h.threshold('explodingGrowth') && p.peakRms >= h.threshold('explodingGrowthMinRms');
    const isHuge = (p: Peak) => p.peakRms >= h.threshold('explodingAbsoluteRms');
    // Where the explosion starts: the earliest layer past either limit, else the largest gradient.
    const worst = peaks.find((p) => grows(p) || isHuge(p)) ?? [...peaks].sort((a, b) => b.peakRms - a.peakRms)[0];
    if (!worst) return undefined;

    const last = layers[layers.length - 1];
    const firstLastRatio = median(
      finite.map((s) => {
        const first = s.layers.find((l) => l.layer === layers[0])?.gradRms ?? 0;
        const lastRms = s.layers.find((l) => l.layer === last)?.gradRms ?? 0;
        return lastRms > 0 ? first / lastRms : 0;
      }),
    );
    const grew = grows(worst);
    const huge = isHuge(worst);
    const earlyLarger = layers.length > 1 && firstLastRatio > h.threshold('explodingRatio');
    const lastSeries = h.series(last).filter((l) => Number.isFinite(l.gradRms));
    const outputCollapsed =
      progress.finalLoss > h.threshold('divergingLossFactor') * progress.chanceLoss &&
      lastSeries.length > 0 &&
      median(lastSeries.map((l) => l.gradZeroFraction)) >= 0.9;

    if (!grew && !huge && !earlyLarger && !outputCollapsed) return undefined;
    const severity = brokeDown || progress.diverging ? 'error' : gatedSeverity(progress);
    // Live only when certain: the explosion has already broken the run or the loss.
    if (!final && severity !== 'error') return undefined;

    const common = { ...progressEvidence(progress), firstLastRatio: round(firstLastRatio) };
    const latest = h.steps[h.length - 1];
    const tail = final
      ? describeProgress(progress, h.length, h.ctx.numClasses, fmt)
      : `loss ${fmt(latest.loss)} at step ${latest.step} (chance level ln ${h.ctx.numClasses} = ${fmt(progress.chanceLoss)})`;
    if (outputCollapsed && !grew && !huge) {
      return {
        code: 'exploding-gradient',
        severity,
        layer: last,
        message: `${last} gradients are exactly 0 on ${fmt(median(lastSeries.map((l) => l.gradZeroFraction)) * 100)} % of elements while the loss is ${fmt(progress.finalLoss)} (${fmt(progress.finalLoss / progress.chanceLoss)}× ln ${h.ctx.numClasses}): the outputs have blown up and the softmax saturated, which hides the explosion`,
        evidence: { ...common, zeroFraction: round(median(lastSeries.map((l) => l.gradZeroFraction))), lossOverChance: round(progress.finalLoss / progress.chanceLoss) },
        fixes: [],
        relatedLayers: layers.filter((l) => l !== last),
      };
    }
    const why = grew
      ? `grew ${fmt(worst.growth)}× from ${fmt(worst.startRms)} to ${fmt(worst.peakRms)} by step ${worst.peakStep}`
      : huge
        ? `reached ${fmt(worst.peakRms)} at step ${worst.peakStep}`
        : `is ${fmt(firstLastRatio)}× the last layer's (${last})`;
    const layer = earlyLarger && !grew && !huge ? layers[0] : worst.layer;
    return {
      code: 'exploding-gradient',
      severity,
      layer,
      step: worst.peakStep,
      message: `${layer} gradient RMS ${why}; ${tail}`,
      evidence: { ...common, growth: round(worst.growth), startRms: round(worst.startRms), peakRms: round(worst.peakRms), peakStep: worst.peakStep },
      fixes: [],
      relatedLayers: layers.filter((l) => l !== layer),
    };
  },
};

function isBroken(h: History, step: StepStats | undefined): boolean {
  if (!step) return false;
  return (
    !Number.isFinite(step.loss) ||
    step.loss > h.threshold('divergingLossFactor') * h.chanceLoss ||
    step.layers.some((l) => l.gradNonFinite > 0 || !Number.isFinite(l.gradRms))
  );
}

/**
 * The live check runs on the step where the run breaks (and the one after, when the gradients
 * of the breaking step were still finite), so it costs O(layers) per step, not O(steps), even
 * when a diverged run stays broken for thousands of steps; `finish` decides on everything.
 */
function newlyBroken(h: History): boolean {
  const latest = h.steps[h.length - 1];
  return isBroken(h, latest) && !isBroken(h, h.steps[h.length - 3]);
}

// ──── vanishing-gradient ────

/**
 * The earliest layer whose gradient RMS, as a fraction of the last layer's, stays below the
 * AUTOTRAINER ratio over the run (median over steps, so one odd batch does not decide).
 *
 * Live once it is certain: when the progress can first be judged (`minStepsToJudgeProgress`
 * steps) and at every doubling after it, a vanished gradient with the loss stuck at chance is
 * already the error the end of the run would report, so the user sees it half-way through a
 * 100-step run instead of at its end. Checking at doublings only keeps a long real run (watch)
 * at O(n log n) work in all; anything short of an error waits for the end.
 *
 * Sooner when the evidence is overwhelming: after `vanishingEarlySteps` (and its doublings
 * below `minStepsToJudgeProgress`), when the layer was ten times past both limits on every
 * step so far (`vanishingEarlyMargin`: no batch where it looked alive) and the loss sits at
 * chance without falling. That is the time to the first finding on the 10-conv sigmoid sample
 * (issue 14: 10 steps instead of 50).
 */
export const vanishingRule: Rule = {
  code: 'vanishing-gradient',
  live: true,
  explainedBy: ['exploding-gradient', 'non-finite'],
  evaluate(h, final) {
    const judgeAt = h.threshold('minStepsToJudgeProgress');
    const early = !final && h.length < judgeAt && atLiveCheckpoint(h.length, h.threshold('vanishingEarlySteps'));
    if (!final && !early && !atLiveCheckpoint(h.length, judgeAt)) return undefined;
    const layers = h.gradientLayers();
    const finite = h.finiteSteps();
    if (layers.length < 2 || finite.length === 0) return undefined;
    const progress = h.lossProgress();
    // A loss far above chance with zero gradients is the softmax trap of an explosion, not vanishing.
    if (progress.diverging) return undefined;
    const last = layers[layers.length - 1];
    const lastRms = median(finite.map((s) => s.layers.find((l) => l.layer === last)?.gradRms ?? 0));
    if (!(lastRms > 0)) return undefined;

    const figures = layers.slice(0, -1).map((name) => {
      const rms = median(finite.map((s) => s.layers.find((l) => l.layer === name)?.gradRms ?? 0));
      const ratio = median(
        finite.map((s) => {
          const own = s.layers.find((l) => l.layer === name)?.gradRms ?? 0;
          const lastOwn = s.layers.find((l) => l.layer === last)?.gradRms ?? 0;
          return lastOwn > 0 ? own / lastOwn : 1;
        }),
      );
      return { name, rms, ratio };
    });
    const vanished = figures.filter((f) => f.ratio < h.threshold('vanishingRatio') && f.rms < h.threshold('vanishingAbsoluteRms'));
    if (vanished.length === 0) return undefined;
    const start = vanished[0];
    const severity = gatedSeverity(progress);
    if (!final && severity !== 'error') return undefined;
    if (early && !(finite.length === h.length && learnsNothingYet(h, progress) && vanishedOnEveryStep(h, start.name, last))) return undefined;
    const more = vanished.length > 1 ? ` (${vanished.length} layers below ${fmt(h.threshold('vanishingRatio'))} of it)` : '';
    return {
      code: 'vanishing-gradient',
      severity,
      layer: start.name,
      message: `${start.name} gradient RMS ${fmt(start.rms)} is ${fmt(start.ratio)} of the last layer's (${last})${more}; ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
      evidence: {
        ...progressEvidence(progress),
        gradRms: round(start.rms),
        ratioToLast: round(start.ratio),
        lastLayerGradRms: round(lastRms),
        vanishedLayers: vanished.length,
        steps: h.length,
      },
      fixes: [],
      relatedLayers: [...vanished.slice(1).map((f) => f.name), last],
    };
  },
};

/** Early, the loss has neither fallen by the learning margin nor gone below chance: no sign the run will learn after all. */
function learnsNothingYet(h: History, progress: LossProgress): boolean {
  return progress.relativeImprovement < h.threshold('minRelativeImprovement') && progress.finalLoss >= h.threshold('vanishingEarlyLossFloor') * progress.chanceLoss;
}

/** On every step, `layer`'s gradient RMS and its ratio to `last`'s are past the limits by `vanishingEarlyMargin`. */
function vanishedOnEveryStep(h: History, layer: string, last: string): boolean {
  const margin = h.threshold('vanishingEarlyMargin');
  const ratioLimit = margin * h.threshold('vanishingRatio');
  const rmsLimit = margin * h.threshold('vanishingAbsoluteRms');
  return h.steps.every((s) => {
    const own = s.layers.find((l) => l.layer === layer)?.gradRms;
    const lastOwn = s.layers.find((l) => l.layer === last)?.gradRms;
    return own !== undefined && lastOwn !== undefined && lastOwn > 0 && own < rmsLimit && own / lastOwn < ratioLimit;
  });
}

/** `first`, 2·`first`, 4·`first`, …: the step counts at which a live check that needs the whole history runs. */
function atLiveCheckpoint(steps: number, first: number): boolean {
  if (steps < first || steps % first !== 0) return false;
  const multiple = steps / first;
  return (multiple & (multiple - 1)) === 0;
}
