/** One Adam step's scalars; the corrections are 1 − βᵗ as float32, as TF.js's Adam holds them. */
export interface AdamStepAttrs {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  firstMomentCorrection: number;
  secondMomentCorrection: number;
}

export interface AdamSources {
  value: Float32Array;
  firstMoment: Float32Array;
  secondMoment: Float32Array;
  gradient: Float32Array;
}

export interface AdamTargets {
  value: Float32Array;
  firstMoment: Float32Array;
  secondMoment: Float32Array;
}

const f32 = Math.fround;

/**
 * TF.js's Adam update (tfjs-core AdamOptimizer.applyGradients) in one pass, each operation
 * rounded to float32 in the order the stock optimizer's ops run, so the results equal its
 * own up to how a backend rounds the same float32 operations:
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  w ← w − lr · (m/c₁) / (√(v/c₂) + ε)
 */
export function adamUpdateInto(sources: AdamSources, attrs: AdamStepAttrs, targets: AdamTargets): void {
  const { value, firstMoment, secondMoment, gradient } = sources;
  const beta1 = f32(attrs.beta1);
  const beta2 = f32(attrs.beta2);
  const gradientWeight1 = f32(1 - attrs.beta1);
  const gradientWeight2 = f32(1 - attrs.beta2);
  const correction1 = f32(attrs.firstMomentCorrection);
  const correction2 = f32(attrs.secondMomentCorrection);
  const epsilon = f32(attrs.epsilon);
  const step = f32(-attrs.learningRate);
  for (let i = 0; i < value.length; i++) {
    const g = gradient[i];
    const m = f32(f32(firstMoment[i] * beta1) + f32(g * gradientWeight1));
    const v = f32(f32(secondMoment[i] * beta2) + f32(f32(g * g) * gradientWeight2));
    const corrected1 = f32(m / correction1);
    const corrected2 = f32(v / correction2);
    const direction = f32(corrected1 / f32(f32(Math.sqrt(corrected2)) + epsilon));
    targets.firstMoment[i] = m;
    targets.secondMoment[i] = v;
    targets.value[i] = f32(direction * step) + value[i];
  }
}
