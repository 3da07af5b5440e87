import * as tf from '@tensorflow/tfjs';
import type { ActivationKind } from './forwardPlan';

export interface ActivationSummary {
  activationMean: number;
  activationStd: number;
  deadFraction?: number;
  saturatedFraction?: number;
}

/**
 * Mean, spread and tails come from the first examples of the batch only, read back and reduced
 * in plain JS; dead units use a per-channel max over the whole batch ("never positive over the
 * batch"), one cheap reduction. Reading every activation back cost 3 ms per 200k floats on
 * wasm, and element-wise TF.js passes cost one kernel dispatch each: on a small CNN the step is
 * dominated by dispatches, so the fewer kernels the better.
 */
export const ACTIVATION_SAMPLE_EXAMPLES = 4;

function sampleSize(activation: tf.Tensor): number {
  const examples = activation.shape[0];
  return examples > ACTIVATION_SAMPLE_EXAMPLES ? (activation.size / examples) * ACTIVATION_SAMPLE_EXAMPLES : activation.size;
}

function channelCount(activation: tf.Tensor): number {
  return activation.shape[activation.rank - 1] ?? 1;
}

/** The 1-D tensors to read back for one activation (channels last): the sampled values, then per-channel maxima for the ReLU family. */
export function activationFigures(activation: tf.Tensor, kind: ActivationKind): tf.Tensor1D[] {
  return tf.tidy(() => {
    const examples = activation.shape[0];
    const sample = examples > ACTIVATION_SAMPLE_EXAMPLES ? tf.slice(activation, 0, ACTIVATION_SAMPLE_EXAMPLES) : activation;
    const figures = [tf.reshape(sample, [-1]) as tf.Tensor1D];
    if (kind === 'relu') {
      // The same maxima as over every axis but the last, but the backends move the reduced
      // axes innermost first: one transpose of a 2-D view costs half that of the 4-D one on wasm.
      figures.push(tf.max(tf.reshape(activation, [-1, channelCount(activation)]), 0) as tf.Tensor1D);
    }
    return figures;
  });
}

/** How many numbers `activationFigures` yields for this activation. */
export function activationFigureCount(activation: tf.Tensor, kind: ActivationKind): number {
  return sampleSize(activation) + (kind === 'relu' ? channelCount(activation) : 0);
}

/** Interprets what `activationFigures` read back. */
export function summariseActivation(figures: Float32Array, activation: tf.Tensor, kind: ActivationKind): ActivationSummary {
  const count = sampleSize(activation);
  let sum = 0;
  let sumSquares = 0;
  let tails = 0;
  for (let i = 0; i < count; i++) {
    const v = figures[i];
    sum += v;
    sumSquares += v * v;
    if (kind === 'tanh' ? v > 0.99 || v < -0.99 : v > 0.99 || v < 0.01) tails++;
  }
  const mean = count > 0 ? sum / count : 0;
  const variance = count > 0 ? Math.max(0, sumSquares / count - mean * mean) : 0;
  const summary: ActivationSummary = { activationMean: mean, activationStd: Math.sqrt(variance) };
  if (kind === 'relu') {
    const channelMaxima = figures.subarray(count, count + channelCount(activation));
    const dead = channelMaxima.reduce((n, max) => n + (max > 0 ? 0 : 1), 0);
    summary.deadFraction = channelMaxima.length > 0 ? dead / channelMaxima.length : 0;
  } else if (kind === 'tanh' || kind === 'sigmoid' || kind === 'softmax') {
    summary.saturatedFraction = count > 0 ? tails / count : 0;
  }
  return summary;
}
