import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wrappingStock } from '../registry';
import { disposeIntermediates, runWasmKernel } from './stockKernels';

/**
 * wasm's BatchMatMul is fast only without transposes; with one (every Dense layer's backward
 * pass: dW = xᵀ·dy, dx = dy·Wᵀ) it takes a slow loop, measured 7.5 ms against 1.6 ms for an
 * explicit Transpose followed by the plain product on the sigmoid net's 6272×10 Dense layer.
 */
function transposeExplicitly(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    if (!transposeA && !transposeB) return stock(args);
    const wasm = args.backend as BackendWasm;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const intermediates: tf.TensorInfo[] = [];
    const swapLastTwo = (info: tf.TensorInfo): tf.TensorInfo => {
      const rank = info.shape.length;
      const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
      const transposed = runWasmKernel('Transpose', wasm, { x: info }, { perm });
      intermediates.push(transposed);
      return transposed;
    };
    const result = stock({
      ...args,
      inputs: { a: transposeA ? swapLastTwo(a) : a, b: transposeB ? swapLastTwo(b) : b },
      attrs: { ...args.attrs, transposeA: false, transposeB: false },
    });
    disposeIntermediates(wasm, intermediates);
    return result;
  };
}

export const batchMatMulKernel = wrappingStock('BatchMatMul', 'wasm', transposeExplicitly);
