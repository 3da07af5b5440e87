import type { FindingCode } from '../codes';
import type { FixContext } from '../diagnosis';
import type { Finding, Fix } from '../findings';
import { planAddBatchNormalization, planChangeInitializer, planUseLeakyRelu, planUseRelu } from './layerFixes';
import { THRESHOLDS } from '../rules/thresholds';
import { planChangeOptimizer, planClipGradients, planLearningRate } from './trainingFixes';
import {
  planPyAddBatchNormalization,
  planPyChangeInitializer,
  planPyChangeOptimizer,
  planPyLearningRate,
  planPyUseLeakyRelu,
  planPyUseRelu,
} from './python/pythonFixes';

import { planKerasPyAddBatchNormalization, planKerasPyChangeInitializer, planKerasPyLearningRate, planKerasPyUseRelu } from './python/kerasFixes';

export { applyEdits } from './textEdits';

type Planner = (ctx: FixContext, finding: Finding) => Fix | undefined;

// PyTorch files get the same fix codes, planned on their Python source (python/pythonFixes.ts).
const py = (ctx: FixContext) => ctx.format === 'pytorch' && ctx.torch !== undefined;
// Keras `.py` files: planned on the Python source at the call sites the exporter recorded
// (python/kerasFixes.ts); the fixes that have no Python planner yet drop out for them.
const kpy = (ctx: FixContext) => ctx.format === 'keras-python' && ctx.kerasPython !== undefined;
const useRelu: Planner = (ctx) => (kpy(ctx) ? planKerasPyUseRelu(ctx) : py(ctx) ? planPyUseRelu(ctx) : planUseRelu(ctx));
const leakyFromRelu: Planner = (ctx) => (kpy(ctx) ? undefined : py(ctx) ? planPyUseLeakyRelu(ctx, 'relu') : planUseLeakyRelu(ctx, 'relu'));
const leakyFromSaturating: Planner = (ctx) => (kpy(ctx) ? undefined : py(ctx) ? planPyUseLeakyRelu(ctx, 'saturating') : planUseLeakyRelu(ctx, 'saturating'));
const batchNorm: Planner = (ctx) => (kpy(ctx) ? planKerasPyAddBatchNormalization(ctx) : py(ctx) ? planPyAddBatchNormalization(ctx) : planAddBatchNormalization(ctx));
const initializer: Planner = (ctx) => (kpy(ctx) ? planKerasPyChangeInitializer(ctx) : py(ctx) ? planPyChangeInitializer(ctx) : planChangeInitializer(ctx));
const lowerRate: Planner = (ctx) => (kpy(ctx) ? planKerasPyLearningRate(ctx, 'lower') : py(ctx) ? planPyLearningRate(ctx, 'lower') : planLearningRate(ctx, 'lower'));
const raiseRate: Planner = (ctx) => (kpy(ctx) ? planKerasPyLearningRate(ctx, 'raise') : py(ctx) ? planPyLearningRate(ctx, 'raise') : planLearningRate(ctx, 'raise'));
// The trainer has no clipping option yet, so for PyTorch there is nothing a clip fix could change.
const clip: Planner = (ctx) => (py(ctx) || kpy(ctx) ? undefined : planClipGradients(ctx));
const optimizer: Planner = (ctx) => (kpy(ctx) ? undefined : py(ctx) ? planPyChangeOptimizer(ctx) : planChangeOptimizer(ctx));

/** True when the finding's evidence says the step-0 weights were already far too large. */
const badInitEvidence = (finding: Finding) => typeof finding.evidence.peakStep === 'number' && finding.evidence.peakStep === 0;
/** True when the first updates were far too large: the learning rate, not the architecture, did the damage. */
const rateTooHighEvidence = (finding: Finding) => typeof finding.evidence.earlyUpdateRatio === 'number' && finding.evidence.earlyUpdateRatio > THRESHOLDS.updateRatioHigh.value;
/** True when the units were dead before any update: the initial weights or biases are the cause. */
const deadFromInitEvidence = (finding: Finding) => typeof finding.evidence.deadAtStart === 'number' && finding.evidence.deadAtStart >= THRESHOLDS.deadFraction.value;
const onSgd = (ctx: FixContext) => ctx.options.optimizer === 'sgd' || ctx.options.optimizer === 'momentum';

/**
 * Fixes per finding, best first. A planner that has nothing to change in this model (no
 * sigmoid layer to switch, a TF.js file whose weight shards pin the initial weights) drops out,
 * so the first fix is the best one that applies.
 */
function candidates(finding: Finding, ctx: FixContext): Planner[] {
  const code: FindingCode = finding.code;
  switch (code) {
    case 'vanishing-gradient':
      return [useRelu, batchNorm, leakyFromSaturating, initializer];
    case 'saturated-activation':
      return rateTooHighEvidence(finding) ? [lowerRate, useRelu, batchNorm] : [useRelu, batchNorm, initializer, leakyFromSaturating];
    case 'exploding-gradient':
      return badInitEvidence(finding) ? [initializer, batchNorm, clip, lowerRate] : [lowerRate, clip, initializer, batchNorm];
    case 'non-finite':
      return [lowerRate, clip, initializer];
    case 'dying-relu':
      if (rateTooHighEvidence(finding)) return [lowerRate, leakyFromRelu, batchNorm];
      return deadFromInitEvidence(finding) ? [initializer, leakyFromRelu, batchNorm] : [leakyFromRelu, initializer, lowerRate, batchNorm];
    case 'poor-initialization':
      return [initializer, batchNorm];
    case 'learning-rate-too-high':
      return onSgd(ctx) ? [lowerRate, optimizer, clip] : [lowerRate, clip];
    case 'learning-rate-too-low':
      return onSgd(ctx) ? [optimizer, raiseRate] : [raiseRate, optimizer];
    case 'oscillating-loss':
      return [lowerRate, optimizer, batchNorm];
    case 'slow-convergence':
      return onSgd(ctx) ? [optimizer, raiseRate, batchNorm] : [raiseRate, batchNorm];
  }
}

/** Fixes for one finding in this model file, best first; planners that cannot apply give nothing. */
export function planFixes(finding: Finding, ctx: FixContext): Fix[] {
  const fixes: Fix[] = [];
  for (const planner of candidates(finding, ctx)) {
    let fix: Fix | undefined;
    try {
      fix = planner(ctx, finding);
    } catch {
      // A file the planner cannot read (hand-edited into an odd shape) means no such fix, not a failed run.
      fix = undefined;
    }
    if (fix && !fixes.some((f) => f.code === fix.code)) fixes.push(fix);
  }
  return fixes;
}
