/**
 * Colour classes of the gradient-flow bars. A picture, not a verdict: the engine's rules (which
 * also look at loss and accuracy) decide findings. Thresholds follow AUTOTRAINER (ICSE 2021):
 * vanishing below 1e-3 of the last layer, exploding above 70× it; see FACTS.md.
 */
export type FlowHealth = 'healthy' | 'vanishing' | 'exploding' | 'non-finite';

const VANISHING_RATIO = 1e-3;
const EXPLODING_RATIO = 70;
// Ratios alone miss a net where every layer blows up or dies together.
const EXPLODING_RMS = 1e2;
const VANISHING_RMS = 1e-8;

/** `rms` in model-file order; the reference is the last layer with a usable value. */
export function classifyFlow(rms: number[], nonFinite: boolean[]): FlowHealth[] {
  let reference = NaN;
  for (let i = rms.length - 1; i >= 0; i--) {
    if (Number.isFinite(rms[i]) && rms[i] > 0 && !nonFinite[i]) {
      reference = rms[i];
      break;
    }
  }
  return rms.map((value, i) => {
    if (nonFinite[i] || !Number.isFinite(value)) return 'non-finite';
    if (value > EXPLODING_RMS || value / reference > EXPLODING_RATIO) return 'exploding';
    if (value < VANISHING_RMS || !(value / reference >= VANISHING_RATIO)) return 'vanishing';
    return 'healthy';
  });
}
