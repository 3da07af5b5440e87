import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wrappingStock } from '../registry';

/**
 * Average-pool gradient as a JS loop over wasm heap views: each output's gradient, divided by
 * the window's area, added to every input pixel of its window, walked channels-innermost so
 * reads and writes are contiguous. wasm's own kernel was measured at 2.1 ms per call on
 * LeNet-5's first pool ([32, 28, 28, 6], 2×2 stride 2; 14 % of its training step), against
 * 0.2–0.3 ms for this loop. Only windows that never reach into padding are taken: there every
 * backend divides by the full area, while with padding TF.js's kernels disagree on the divisor.
 */
function avgPoolGradInPlace(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const { filterSize, strides, pad } = args.attrs as unknown as tf.AvgPoolGradAttrs;
    if (input.dtype !== 'float32' || input.shape.length !== 4) return stock(args);
    const shape = input.shape as [number, number, number, number];
    const info = tf.backend_util.computePool2DInfo(shape, filterSize, strides, 1, pad);
    const { top, left, bottom, right } = info.padInfo;
    if (top !== 0 || left !== 0 || bottom !== 0 || right !== 0) return stock(args);
    const wasm = args.backend as BackendWasm;
    const out = wasm.makeOutput(shape, 'float32');
    // Views are taken after the allocation: a heap growth detaches views taken before it.
    const dx = wasm.typedArrayFromHeap(out) as Float32Array;
    dx.fill(0);
    spreadAverages(wasm.typedArrayFromHeap(dy) as Float32Array, dx, shape, info);
    return out;
  };
}

function spreadAverages(dy: Float32Array, dx: Float32Array, [batch, inHeight, inWidth, channels]: [number, number, number, number], info: tf.backend_util.Conv2DInfo): void {
  const { outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const share = 1 / (filterHeight * filterWidth);
  let from = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++, from += channels) {
        for (let i = 0; i < filterHeight; i++) {
          let to = ((b * inHeight + oy * strideHeight + i) * inWidth + ox * strideWidth) * channels;
          for (let j = 0; j < filterWidth; j++, to += channels) {
            for (let c = 0; c < channels; c++) dx[to + c] += dy[from + c] * share;
          }
        }
      }
    }
  }
}

export const avgPoolGradKernel = wrappingStock('AvgPoolGrad', 'wasm', avgPoolGradInPlace);
