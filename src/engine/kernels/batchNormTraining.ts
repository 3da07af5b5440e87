import * as tf from '@tensorflow/tfjs';
import { activeBackendHas, BATCH_NORM_TRAINING_GRAD, CHANNEL_MOMENTS } from './registry';

/**
 * Training-mode BatchNormalization with its gradient written out. tfjs-layers normalises
 * through `moments` + `batchNorm` and lets autodiff differentiate both, about a hundred small
 * ops per layer per step (measured: BatchNorm layers were two thirds of the 10-layer ReLU+BN
 * net's training step on wasm). The closed form needs a handful:
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/(σ·n) · (n·dy − dβ − x̂·dγ)      (sums over all but channels)
 * Only the common case is taken over (channels last, centre and scale on, float32, training);
 * everything else, inference included, runs the layer's own code.
 */

interface BatchNormalizationInternals {
  axis: number | number[];
  center: boolean;
  scale: boolean;
  epsilon: number;
  momentum: number;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor; write(value: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(value: tf.Tensor): void };
}
type LayerCall = (this: BatchNormalizationInternals, inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: unknown }) => tf.Tensor | tf.Tensor[];

const INSTALLED = Symbol('gradientLensFusedBatchNorm');

/** Makes every BatchNormalization layer train through `normalizeInTraining`; idempotent. */
export function installBatchNormTraining(): void {
  const registered = tf.serialization.SerializationMap.getMap().classNameMap['BatchNormalization'];
  if (!registered) throw new Error('tfjs-layers has no BatchNormalization class registered');
  const prototype = (registered[0] as unknown as { prototype: { call: LayerCall & { [INSTALLED]?: true } } }).prototype;
  if (prototype.call[INSTALLED]) return;
  const layerCall = prototype.call;
  const call: LayerCall & { [INSTALLED]?: true } = function (this: BatchNormalizationInternals, inputs, kwargs) {
    const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
    if (kwargs?.training !== true || !input || input.dtype !== 'float32' || input.rank < 2) return layerCall.call(this, inputs, kwargs);
    const axis = channelAxis(this.axis, input.rank);
    if (axis !== input.rank - 1 || !this.center || !this.scale || !this.gamma || !this.beta) return layerCall.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const { normalized, mean, variance } = normalizeInTraining(input, this.gamma!.read(), this.beta!.read(), this.epsilon);
      // The layer's own moving-average update, as tfjs-layers writes it.
      for (const [average, batchValue] of [[this.movingMean, mean], [this.movingVariance, variance]] as const) {
        tf.tidy(() => {
          const current = average.read();
          average.write(tf.sub(current, tf.mul(tf.sub(current, batchValue), 1 - this.momentum)));
        });
      }
      return normalized;
    });
  };
  call[INSTALLED] = true;
  prototype.call = call;
}

/**
 * The layer's normalised axis, or undefined for several. Keras configs write it as a list
 * (`"axis": [3]`), which tfjs-layers keeps as is: compared as a number it sent every BatchNorm
 * layer of a loaded Keras model down the layer's own ~100-op path.
 */
export function channelAxis(axis: number | number[], rank: number): number | undefined {
  const single = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : undefined) : axis;
  if (typeof single !== 'number') return undefined;
  return single >= 0 ? single : single + rank;
}

/**
 * x normalised with its own per-channel batch statistics, scaled and shifted. The statistics
 * enter the custom gradient as constants: its closed form already accounts for them, so
 * autodiff must not differentiate them again.
 */
export function normalizeInTraining(
  x: tf.Tensor,
  scale: tf.Tensor,
  offset: tf.Tensor,
  epsilon: number,
): { normalized: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const axes = Array.from({ length: x.rank - 1 }, (_, axis) => axis);
  const { mean, variance } = batchMoments(x, axes);
  const normalize = tf.customGrad(((...args: unknown[]) => {
    const [input, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    // The gradient runs after the layer's scope has disposed its own tensors: everything it
    // reads goes through `save`, which keeps a reference until backpropagation is done.
    save([input, gamma, mean, variance]);
    return {
      value: tf.batchNorm(input, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, epsilon),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedInput, savedGamma, savedMean, savedVariance] = saved;
        if (activeBackendHas(BATCH_NORM_TRAINING_GRAD)) {
          const inputs = { x: savedInput, dy, gamma: savedGamma, mean: savedMean, variance: savedVariance };
          return tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, inputs, { epsilon }) as tf.Tensor[];
        }
        const count = savedInput.size / savedGamma.size;
        const inverseStd = tf.rsqrt(tf.add(savedVariance, epsilon));
        const centred = tf.mul(tf.sub(savedInput, savedMean), inverseStd);
        const betaGrad = tf.sum(dy, axes);
        const gammaGrad = tf.sum(tf.mul(dy, centred), axes);
        const inputGrad = tf.mul(
          tf.div(tf.mul(savedGamma, inverseStd), count),
          tf.sub(tf.sub(tf.mul(dy, count), betaGrad), tf.mul(centred, gammaGrad)),
        );
        return [inputGrad, gammaGrad, betaGrad];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return { normalized: normalize(x, scale, offset), mean, variance };
}

function batchMoments(x: tf.Tensor, axes: number[]): { mean: tf.Tensor; variance: tf.Tensor } {
  if (!activeBackendHas(CHANNEL_MOMENTS)) return tf.moments(x, axes);
  const [mean, variance] = tf.engine().runKernel(CHANNEL_MOMENTS, { x }) as tf.Tensor[];
  return { mean, variance };
}
