import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wrappingStock } from '../registry';

type HeapArray = Float32Array | Int32Array | Uint8Array;

/**
 * Slice as run copies between wasm heap views. wasm's kernel first copies the whole input out
 * of the heap with `readSync` (measured 3 ms to take the first 4 of 32 examples of a
 * [32, 28, 28, 8] activation, which the per-step activation statistics do for every layer).
 */
function sliceFromHeap(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string' || x.shape.length === 0) return stock(args);
    const wasm = args.backend as BackendWasm;
    const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
    const [starts, sizes] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    const out = wasm.makeOutput(sizes, x.dtype);
    // Views are taken after the allocation: a heap growth detaches views taken before it.
    const source = wasm.typedArrayFromHeap(x) as HeapArray;
    const target = wasm.typedArrayFromHeap(out) as HeapArray;
    if (target.length > 0) copyRuns(source, x.shape, target, starts, sizes);
    return out;
  };
}

/** Copies the slice as runs of the longest stretch that is contiguous in both arrays. */
function copyRuns(source: HeapArray, shape: number[], target: HeapArray, starts: number[], sizes: number[]): void {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let axis = rank - 2; axis >= 0; axis--) strides[axis] = strides[axis + 1] * shape[axis + 1];
  // Trailing axes taken whole extend the run through the first axis that is cut.
  let runAxis = rank - 1;
  while (runAxis > 0 && sizes[runAxis] === shape[runAxis]) runAxis--;
  const runLength = sizes[runAxis] * strides[runAxis];
  const index = new Array<number>(runAxis).fill(0);
  let written = 0;
  for (;;) {
    let from = starts[runAxis] * strides[runAxis];
    for (let axis = 0; axis < runAxis; axis++) from += (starts[axis] + index[axis]) * strides[axis];
    target.set(source.subarray(from, from + runLength), written);
    written += runLength;
    let axis = runAxis - 1;
    while (axis >= 0 && ++index[axis] === sizes[axis]) index[axis--] = 0;
    if (axis < 0) return;
  }
}

export const sliceKernel = wrappingStock('Slice', 'wasm', sliceFromHeap);
