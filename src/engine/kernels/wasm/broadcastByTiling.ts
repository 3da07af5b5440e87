import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wrappingStock, type ProjectKernel } from '../registry';
import { disposeIntermediates, reshaped, runWasmKernel } from './stockKernels';

/**
 * Below this many output elements the extra Tile call costs more than the broadcast saves.
 * Measured on [32, 28, 28, 8] · [8]: wasm's broadcasting Multiply 0.55 ms, Tile + same-shape
 * Multiply 0.14 ms; on tiny tensors both are a few microseconds.
 */
const MIN_OUTPUT_ELEMENTS = 4096;

/**
 * wasm's binary kernels run equal shapes through a fast SIMD loop but broadcasting ones (a
 * per-channel vector against an activation, all over BatchNormalization and its gradient)
 * through a slow per-element index path. Broadcasting a size-1 axis is tiling it, and the
 * project's Tile is a block copy, so the smaller operand is tiled to the full shape first.
 */
function broadcastByTiling(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const wasm = args.backend as BackendWasm;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const outSize = outShape.reduce((product, size) => product * size, 1);
    const aFull = sameShape(a.shape, outShape);
    const bFull = sameShape(b.shape, outShape);
    const isScalar = (info: tf.TensorInfo) => info.shape.every((size) => size === 1);
    // Scalars already take wasm's fast path; equal shapes need nothing.
    if ((aFull && bFull) || outSize < MIN_OUTPUT_ELEMENTS || isScalar(a) || isScalar(b) || a.dtype === 'string') {
      return stock(args);
    }
    const intermediates: tf.TensorInfo[] = [];
    const expand = (info: tf.TensorInfo): tf.TensorInfo => {
      if (sameShape(info.shape, outShape)) return info;
      const aligned = reshaped(info, [...new Array(outShape.length - info.shape.length).fill(1), ...info.shape]);
      const tiled = runWasmKernel('Tile', wasm, { x: aligned }, { reps: outShape.map((size, axis) => size / aligned.shape[axis]) });
      intermediates.push(tiled);
      return tiled;
    };
    const result = stock({ ...args, inputs: { a: expand(a), b: expand(b) } }) as tf.TensorInfo;
    disposeIntermediates(wasm, intermediates);
    return result;
  };
}

function sameShape(shape: number[], other: number[]): boolean {
  return shape.length === other.length && shape.every((size, axis) => size === other[axis]);
}

export const broadcastingBinaryKernels: readonly ProjectKernel[] = ['Add', 'Sub', 'Multiply', 'RealDiv', 'SquaredDifference'].map((kernelName) =>
  wrappingStock(kernelName, 'wasm', broadcastByTiling),
);
