import type { LayerStepStats } from '../stats';
import { fmt, History, median, round } from './history';
import { describeProgress, gatedSeverity, progressEvidence, type Rule } from './rule';
import { earlyUpdateRatio } from './trainingRules';

const RELU_FAMILY = new Set(['relu', 'relu6', 'elu', 'selu']);

/**
 * The first layer (in file order) on which `value` reaches `limit` on at least the persistent
 * fraction of the second half of the run, with the median value there.
 */
function firstPersistent(h: History, value: (s: LayerStepStats) => number | undefined, limit: number, eligible: (name: string) => boolean) {
  const half = h.steps.slice(Math.floor(h.steps.length / 2));
  const names = h.steps[0]?.layers.map((l) => l.layer) ?? [];
  for (const name of names) {
    if (!eligible(name)) continue;
    const values = half.map((s) => s.layers.find((l) => l.layer === name)).map((l) => (l ? value(l) : undefined)).filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (values.length === 0) continue;
    const hits = values.filter((v) => v >= limit).length;
    if (hits / values.length >= h.threshold('persistentFraction')) {
      return { name, value: median(values), hitFraction: hits / values.length };
    }
  }
  return undefined;
}

function isOutputLayer(h: History, name: string): boolean {
  const names = h.steps[0]?.layers.map((l) => l.layer) ?? [];
  return names[names.length - 1] === name || h.layerInfo(name)?.activation === 'softmax';
}

// ──── dying-relu ────

/** ReLU units that never fire (activation side), or ReLU gradients that are exactly zero (gradient side). */
export const dyingReluRule: Rule = {
  code: 'dying-relu',
  live: false,
  explainedBy: ['non-finite'],
  evaluate(h) {
    const isRelu = (name: string) => {
      const info = h.layerInfo(name);
      return !isOutputLayer(h, name) && (RELU_FAMILY.has(info?.activation ?? '') || info?.className === 'ReLU');
    };
    const byActivation = firstPersistent(h, (s) => s.deadFraction, h.threshold('deadFraction'), (n) => !isOutputLayer(h, n));
    const byGradient = byActivation ? undefined : firstPersistent(h, (s) => s.gradZeroFraction, h.threshold('deadFraction'), isRelu);
    const hit = byActivation ?? byGradient;
    if (!hit) return undefined;
    const progress = h.lossProgress();
    const what = byActivation ? 'of its units never activate' : 'of its kernel gradient is exactly 0';
    // A huge first update is what kills ReLUs under a too-high learning rate; the fixes read it.
    const update = earlyUpdateRatio(h);
    const rateNote = update && update.ratio > h.threshold('updateRatioHigh') ? `; the first updates moved ${update.layer}'s weights by ${fmt(update.ratio)} of their norm` : '';
    // Dead before any update means the initial weights or biases killed the units, not training.
    const atStart = h.steps[0]?.layers.find((l) => l.layer === hit.name);
    const deadAtStart = (byActivation ? atStart?.deadFraction : atStart?.gradZeroFraction) ?? 0;
    const startNote = deadAtStart >= h.threshold('deadFraction') ? `; ${fmt(deadAtStart * 100)} % were dead at step 0, before any update` : '';
    return {
      code: 'dying-relu',
      severity: gatedSeverity(progress),
      layer: hit.name,
      message: `${hit.name}: ${fmt(hit.value * 100)} % ${what} (median over the second half of the run, threshold ${fmt(h.threshold('deadFraction') * 100)} %)${startNote}${rateNote}; ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
      evidence: {
        ...progressEvidence(progress),
        [byActivation ? 'deadFraction' : 'gradZeroFraction']: round(hit.value),
        persistentFraction: round(hit.hitFraction),
        deadAtStart: round(deadAtStart),
        ...(update ? { earlyUpdateRatio: round(update.ratio) } : {}),
      },
      fixes: [],
    };
  },
};

// ──── saturated-activation ────

/** sigmoid/tanh outputs stuck in their flat tails, where the derivative is almost 0. */
export const saturationRule: Rule = {
  code: 'saturated-activation',
  live: false,
  explainedBy: ['non-finite'],
  evaluate(h) {
    const hit = firstPersistent(h, (s) => s.saturatedFraction, h.threshold('saturatedFraction'), (n) => !isOutputLayer(h, n));
    if (!hit) return undefined;
    const progress = h.lossProgress();
    const activation = h.layerInfo(hit.name)?.activation;
    const update = earlyUpdateRatio(h);
    const rateNote = update && update.ratio > h.threshold('updateRatioHigh') ? `; the first updates moved ${update.layer}'s weights by ${fmt(update.ratio)} of their norm` : '';
    return {
      code: 'saturated-activation',
      severity: gatedSeverity(progress),
      layer: hit.name,
      message: `${hit.name}: ${fmt(hit.value * 100)} % of its ${activation ?? 'activation'} outputs sit in the flat tails (threshold ${fmt(h.threshold('saturatedFraction') * 100)} %), where almost no gradient passes${rateNote}; ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
      evidence: {
        ...progressEvidence(progress),
        saturatedFraction: round(hit.value),
        persistentFraction: round(hit.hitFraction),
        ...(update ? { earlyUpdateRatio: round(update.ratio) } : {}),
      },
      fixes: [],
    };
  },
};

// ──── poor-initialization ────

/** The initializer scale each activation wants (TheDeepChecker: He for ReLU, Glorot for tanh, LeCun for sigmoid/SELU). */
function intendedStd(activation: string | undefined, fanIn: number, fanOut: number): { std: number; scheme: string } {
  if (activation && (RELU_FAMILY.has(activation) || activation === 'relu')) {
    if (activation === 'selu') return { std: Math.sqrt(1 / fanIn), scheme: 'LeCun' };
    return { std: Math.sqrt(2 / fanIn), scheme: 'He' };
  }
  if (activation === 'sigmoid') return { std: Math.sqrt(1 / fanIn), scheme: 'LeCun' };
  return { std: Math.sqrt(2 / (fanIn + fanOut)), scheme: 'Glorot' };
}

/**
 * Step-0 weights far from the scale their activation needs. The kernel size comes from the
 * statistics themselves (n = (L2 / RMS)² of the gradient), the output units from the layer's
 * output shape, so fan-in = n / units.
 */
export const poorInitializationRule: Rule = {
  code: 'poor-initialization',
  live: false,
  explainedBy: [],
  evaluate(h) {
    const first = h.steps[0];
    if (!first) return undefined;
    for (const s of first.layers) {
      const info = h.layerInfo(s.layer);
      // Normalization layers' gamma starts at 1 by design; it has no fan-in scale.
      if (info?.className.includes('Normalization') || /^(BatchNorm|GroupNorm|LayerNorm|InstanceNorm)/.test(info?.className ?? '')) continue;
      // Output units are the channels: last in Keras shapes, first in PyTorch's [C, H, W].
      const units = info?.channelsFirst ? info.outputShape?.[0] : info?.outputShape?.[info.outputShape.length - 1];
      if (!units || !(s.gradRms > 0) || !Number.isFinite(s.gradL2) || !(s.weightL2 > 0)) continue;
      const n = Math.round((s.gradL2 / s.gradRms) ** 2);
      const fanIn = n / units;
      if (fanIn < 1) continue;
      const weightRms = s.weightL2 / Math.sqrt(n);
      const { std, scheme } = intendedStd(info?.activation, fanIn, units);
      const scale = weightRms / std;
      const tooLarge = scale > h.threshold('initScaleHigh');
      const tooSmall = scale < h.threshold('initScaleLow');
      if (!tooLarge && !tooSmall) continue;
      const progress = h.lossProgress();
      return {
        code: 'poor-initialization',
        severity: gatedSeverity(progress),
        layer: s.layer,
        step: first.step,
        message: `${s.layer} starts with weight RMS ${fmt(weightRms)}, ${fmt(scale)}× the ${scheme} scale ${fmt(std)} for its fan-in ${fmt(fanIn)} (${tooLarge ? 'signals grow' : 'signals shrink'} layer by layer); ${describeProgress(progress, h.length, h.ctx.numClasses, fmt)}`,
        evidence: { ...progressEvidence(progress), weightRms: round(weightRms), intendedStd: round(std), scaleOverIntended: round(scale), fanIn: round(fanIn), scheme },
        fixes: [],
      };
    }
    return undefined;
  },
};
