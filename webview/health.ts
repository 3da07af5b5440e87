import { DEFAULT_VIEW_SETTINGS, type FlowThresholds } from '../src/shared/viewProtocol';

/**
 * Colour classes of the gradient-flow bars. A picture, not a verdict: the engine's rules (which
 * also look at loss and accuracy) decide findings. The ratios are the rules' own (AUTOTRAINER's
 * 1e-3 and 70× by default, or the user's `gradientLens.thresholds`).
 */
export type FlowHealth = 'healthy' | 'vanishing' | 'exploding' | 'non-finite';

// Ratios alone miss a net where every layer blows up or dies together.
const EXPLODING_RMS = 1e2;
const VANISHING_RMS = 1e-8;

/** `rms` in model-file order; the reference is the last layer with a usable value. */
export function classifyFlow(rms: number[], nonFinite: boolean[], thresholds: FlowThresholds = DEFAULT_VIEW_SETTINGS.flowThresholds): FlowHealth[] {
  let reference = NaN;
  for (let i = rms.length - 1; i >= 0; i--) {
    if (Number.isFinite(rms[i]) && rms[i] > 0 && !nonFinite[i]) {
      reference = rms[i];
      break;
    }
  }
  return rms.map((value, i) => {
    if (nonFinite[i] || !Number.isFinite(value)) return 'non-finite';
    if (value > EXPLODING_RMS || value / reference > thresholds.explodingRatio) return 'exploding';
    if (value < VANISHING_RMS || !(value / reference >= thresholds.vanishingRatio)) return 'vanishing';
    return 'healthy';
  });
}
