import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ProjectKernel } from '../registry';

/**
 * Sum and Mean over every axis but the last — per-channel reductions of NHWC activations, in
 * BatchNormalization's moments and gradient and in every conv bias gradient. wasm transposes
 * the reduced axes innermost before reducing (measured 0.65 ms on [32, 28, 28, 8] against
 * 0.20 ms for a full sum); here the rows are summed in place in one pass, in float64.
 */
function channelReduction(stock: tf.KernelFunc, mean: boolean): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || rank < 2 || !reducesAllButLast(axis, rank)) return stock(args);
    const wasm = args.backend as BackendWasm;
    const channels = x.shape[rank - 1];
    const rows = x.shape.slice(0, -1).reduce((product, size) => product * size, 1);
    const outShape = keepDims ? [...new Array(rank - 1).fill(1), channels] : [channels];
    const out = wasm.makeOutput(outShape, 'float32');
    // Views are taken after the allocation: a heap growth detaches views taken before it.
    const values = wasm.typedArrayFromHeap(x) as Float32Array;
    const totals = new Float64Array(channels);
    for (let row = 0, offset = 0; row < rows; row++) {
      for (let c = 0; c < channels; c++) totals[c] += values[offset++];
    }
    const target = wasm.typedArrayFromHeap(out) as Float32Array;
    const scale = mean ? 1 / rows : 1;
    for (let c = 0; c < channels; c++) target[c] = totals[c] * scale;
    return out;
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
      return channelReduction(stock, kernelName === 'Mean');
    },
  };
}

export const sumKernel = reductionKernel('Sum');
export const meanKernel = reductionKernel('Mean');
