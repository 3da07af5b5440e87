import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wrappingStock } from '../registry';

type HeapArray = Float32Array | Int32Array | Uint8Array;

/**
 * Tile by block copies in the wasm heap. TF.js's BatchNormalization gradient tiles the
 * per-channel scale to the full activation shape, and wasm's Tile (one element at a time) was
 * measured at ~10 ms per call on [32, 28, 28, 8], 40 % of a 10-layer ReLU+BatchNorm training
 * step. Here each input row is copied once and every repetition is a doubling `copyWithin`.
 */
function tileByBlocks(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string' || x.shape.length === 0) return stock(args);
    const wasm = args.backend as BackendWasm;
    const { reps } = args.attrs as unknown as tf.TileAttrs;
    const outShape = x.shape.map((size, axis) => size * reps[axis]);
    const out = wasm.makeOutput(outShape, x.dtype);
    // Views are taken after the allocation: a heap growth detaches views taken before it.
    const source = wasm.typedArrayFromHeap(x) as HeapArray;
    const target = wasm.typedArrayFromHeap(out) as HeapArray;
    if (target.length > 0) fillTiled(source, x.shape, target, outShape, reps);
    return out;
  };
}

function fillTiled(source: HeapArray, inShape: number[], target: HeapArray, outShape: number[], reps: number[]): void {
  const rank = inShape.length;
  const inStrides = new Array<number>(rank);
  const outStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  outStrides[rank - 1] = 1;
  for (let axis = rank - 2; axis >= 0; axis--) {
    inStrides[axis] = inStrides[axis + 1] * inShape[axis + 1];
    outStrides[axis] = outStrides[axis + 1] * outShape[axis + 1];
  }
  const fill = (axis: number, from: number, to: number): void => {
    const blockLength = inShape[axis] * (axis === rank - 1 ? 1 : outStrides[axis]);
    if (axis === rank - 1) {
      target.set(source.subarray(from, from + inShape[axis]), to);
    } else {
      for (let i = 0; i < inShape[axis]; i++) fill(axis + 1, from + i * inStrides[axis], to + i * outStrides[axis]);
    }
    repeatBlock(target, to, blockLength, reps[axis]);
  };
  fill(0, 0, 0);
}

/** target[start, start + length) written `times` times back to back, doubling the copied span. */
function repeatBlock(target: HeapArray, start: number, length: number, times: number): void {
  const total = length * times;
  for (let done = length; done < total; done *= 2) {
    target.copyWithin(start + done, start, start + Math.min(done, total - done));
  }
}

export const tileKernel = wrappingStock('Tile', 'wasm', tileByBlocks);
