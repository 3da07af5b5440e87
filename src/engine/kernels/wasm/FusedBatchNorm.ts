import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wrappingStock } from '../registry';

/**
 * Batch normalisation with per-channel statistics (the Keras layer's case) as one pass of
 * `x · k[c] + d[c]` over wasm heap views, with k = scale / √(variance + ε) and
 * d = offset − mean · k folded per channel first. wasm's kernel indexes every element's
 * channel through a modulo and was measured ~4× slower on [32, 28, 28, 8]. Other shapes of
 * statistics go to the stock kernel.
 */
function batchNormPerChannel(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { varianceEpsilon } = args.attrs as unknown as tf.FusedBatchNormAttrs;
    const channels = x!.shape[x!.shape.length - 1];
    const perChannel = (info: tf.TensorInfo | undefined) => info === undefined || (info.shape.length === 1 && info.shape[0] === channels && info.dtype === 'float32');
    if (x!.dtype !== 'float32' || ![mean, variance, offset, scale].every(perChannel) || !mean || !variance) return stock(args);
    const wasm = args.backend as BackendWasm;
    const out = wasm.makeOutput(x!.shape, 'float32');
    // Views are taken after the allocation: a heap growth detaches views taken before it.
    const view = (info: tf.TensorInfo) => wasm.typedArrayFromHeap(info) as Float32Array;
    const means = view(mean);
    const variances = view(variance);
    const offsets = offset ? view(offset) : undefined;
    const scales = scale ? view(scale) : undefined;
    const source = view(x!);
    const target = view(out);
    // One channel at a time with a stride keeps k and d in registers (measured 1.5× faster
    // than an inner loop over channels).
    for (let c = 0; c < channels; c++) {
      const multiplier = (scales ? scales[c] : 1) / Math.sqrt(variances[c] + varianceEpsilon);
      const shift = (offsets ? offsets[c] : 0) - means[c] * multiplier;
      for (let i = c; i < source.length; i += channels) target[i] = source[i] * multiplier + shift;
    }
    return out;
  };
}

export const fusedBatchNormKernel = wrappingStock('FusedBatchNorm', 'wasm', batchNormPerChannel);
