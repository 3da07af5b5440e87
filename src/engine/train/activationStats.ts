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

/** How many leading values of the activation (its first examples, row-major) the statistics sample. */
export function activationSampleSize(activation: tf.Tensor): number {
  const examples = activation.shape[0];
  return examples > ACTIVATION_SAMPLE_EXAMPLES ? (activation.size / examples) * ACTIVATION_SAMPLE_EXAMPLES : activation.size;
}

function channelCount(activation: tf.Tensor): number {
  return activation.shape[activation.rank - 1] ?? 1;
}

/**
 * Each channel's maximum over the batch and every position, as a max-pool whose window is the
 * whole column of a [1, rows, 1, channels] view. A max reduction over the leading axes moves
 * them innermost with a transpose first; pooling works channels-last in place: 0.04 ms instead
 * of 0.26–0.73 ms for a 32×28×28×8 activation on wasm. The maxima are the same for finite
 * values; a channel holding NaN may come out NaN (dead) or as its largest number depending on the
 * backend's comparison order under either op, and the NaN reaches the loss and gradient figures.
 */
export function channelMaxima(activation: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const channels = channelCount(activation);
    const rows = activation.size / channels;
    const column = tf.reshape(activation, [1, rows, 1, channels]) as tf.Tensor4D;
    // XNNPACK refuses a 1×1 window, and one row is its own maximum.
    return tf.reshape(rows > 1 ? tf.maxPool(column, [rows, 1], 1, 'valid') : column, [-1]);
  });
}

/** How many numbers are read back for this activation: the sample, then the channel maxima for the ReLU family. */
export function activationFigureCount(activation: tf.Tensor, kind: ActivationKind): number {
  return activationSampleSize(activation) + (kind === 'relu' ? channelCount(activation) : 0);
}

/** Interprets the numbers `activationFigureCount` counts. */
export function summariseActivation(figures: Float32Array, activation: tf.Tensor, kind: ActivationKind): ActivationSummary {
  const count = activationSampleSize(activation);
  const low = kind === 'tanh' ? -0.99 : 0.01;
  let sum = 0;
  let sumSquares = 0;
  let tails = 0;
  for (let i = 0; i < count; i++) {
    const v = figures[i];
    sum += v;
    sumSquares += v * v;
    // Counted without a branch: on samples straddling a threshold (ReLU outputs, half of them
    // 0) a branch mispredicts often enough to double the loop's time. The count rides along
    // for every kind: the loop is bound by the sums' dependency chain, so it costs nothing.
    tails += +(v > 0.99) | +(v < low);
  }
  const mean = count > 0 ? sum / count : 0;
  const variance = count > 0 ? Math.max(0, sumSquares / count - mean * mean) : 0;
  const summary: ActivationSummary = { activationMean: mean, activationStd: Math.sqrt(variance) };
  if (kind === 'relu') {
    const channelMaxima = figures.subarray(count, count + channelCount(activation));
    let dead = 0;
    for (let i = 0; i < channelMaxima.length; i++) if (!(channelMaxima[i] > 0)) dead++;
    summary.deadFraction = channelMaxima.length > 0 ? dead / channelMaxima.length : 0;
  } else if (kind === 'tanh' || kind === 'sigmoid' || kind === 'softmax') {
    summary.saturatedFraction = count > 0 ? tails / count : 0;
  }
  return summary;
}
