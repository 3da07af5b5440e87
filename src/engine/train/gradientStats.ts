export interface GradientSummary {
  gradL2: number;
  gradRms: number;
  gradMeanAbs: number;
  gradMaxAbs: number;
  gradZeroFraction: number;
  gradNonFinite: number;
}

/**
 * Gradient figures of one layer in one pass over its read-back gradient. Kernels are small
 * next to activations, so reading them back costs less than the dozen TF.js kernels per layer
 * the same figures would take on the backend (each kernel has its own dispatch cost).
 */
export function summariseGradient(values: Float32Array): GradientSummary {
  let sumSquares = 0;
  let sumAbs = 0;
  let maxAbs = 0;
  let zeros = 0;
  let nonFinite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const magnitude = Math.abs(v);
    sumSquares += v * v;
    sumAbs += magnitude;
    if (magnitude > maxAbs) maxAbs = magnitude;
    if (v === 0) zeros++;
    else if (!Number.isFinite(v)) nonFinite++;
  }
  const count = values.length;
  const gradL2 = Math.sqrt(sumSquares);
  return {
    gradL2,
    gradRms: count > 0 ? gradL2 / Math.sqrt(count) : 0,
    gradMeanAbs: count > 0 ? sumAbs / count : 0,
    gradMaxAbs: maxAbs,
    gradZeroFraction: count > 0 ? zeros / count : 0,
    gradNonFinite: nonFinite,
  };
}

/** ‖W‖ before the update and ‖ΔW‖/‖W‖, from the kernel read back before and after it. */
export function summariseUpdate(before: Float32Array, after: Float32Array): { weightL2: number; updateRatio: number } {
  let weightSquares = 0;
  let updateSquares = 0;
  for (let i = 0; i < before.length; i++) {
    const delta = after[i] - before[i];
    weightSquares += before[i] * before[i];
    updateSquares += delta * delta;
  }
  const weightL2 = Math.sqrt(weightSquares);
  return { weightL2, updateRatio: weightL2 > 0 ? Math.sqrt(updateSquares) / weightL2 : 0 };
}
