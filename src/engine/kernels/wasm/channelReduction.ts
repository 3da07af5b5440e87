import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ProjectKernel } from '../registry';
import { disposeIntermediates, reshaped, runWasmKernel } from './stockKernels';

/** Below this many rows the extra kernel calls cost more than the matrix product saves. */
const MIN_ROWS = 1024;

/**
 * Sum and Mean over every axis but the last — per-channel reductions of NHWC activations, all
 * over BatchNormalization's moments and gradient and every conv bias gradient. wasm transposes
 * the reduced axes innermost first; as a product `[1, rows] · [rows, channels]` with a row of
 * ones (or of 1/rows for the mean) XNNPACK does it in one pass: measured 0.13 ms against
 * 0.43 ms on [32, 28, 28, 8].
 */
function channelReductionByProduct(stock: tf.KernelFunc, mean: boolean): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const rank = x.shape.length;
    const channels = x.shape[rank - 1];
    const rows = x.shape.slice(0, -1).reduce((product, size) => product * size, 1);
    if (x.dtype !== 'float32' || rank < 2 || rows < MIN_ROWS || channels === 0 || !reducesAllButLast(axis, rank)) {
      return stock(args);
    }
    const wasm = args.backend as BackendWasm;
    const weights = wasm.makeOutput([1, 1, rows], 'float32');
    (wasm.typedArrayFromHeap(weights) as Float32Array).fill(mean ? 1 / rows : 1);
    const product = runWasmKernel('BatchMatMul', wasm, { a: weights, b: reshaped(x, [1, rows, channels]) }, { transposeA: false, transposeB: false });
    disposeIntermediates(wasm, [weights]);
    // Same element count, so only the shape the engine sees changes.
    return reshaped(product, keepDims ? [...new Array(rank - 1).fill(1), channels] : [channels]);
  };
}

function reducesAllButLast(axis: number | number[], rank: number): boolean {
  const axes = new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)));
  if (axes.size !== rank - 1) return false;
  for (let a = 0; a < rank - 1; a++) if (!axes.has(a)) return false;
  return true;
}

function reductionKernel(kernelName: 'Sum' | 'Mean'): ProjectKernel {
  return {
    kernelName,
    backendName: 'wasm',
    create: (stock) => {
      if (!stock) throw new Error(`wasm has no stock ${kernelName} kernel`);
      return channelReductionByProduct(stock, kernelName === 'Mean');
    },
  };
}

export const channelReductionKernels: readonly ProjectKernel[] = [reductionKernel('Sum'), reductionKernel('Mean')];
