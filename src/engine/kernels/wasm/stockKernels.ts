import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Runs a kernel registered for wasm directly on the backend, TF.js style (backend kernels
 * calling each other): no engine bookkeeping, no tape, and the caller disposes what it made.
 */
export function runWasmKernel(
  kernelName: string,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`kernel '${kernelName}' is not registered for wasm`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

export function disposeIntermediates(backend: BackendWasm, infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** The same data seen with another shape (no copy); only valid while `info` lives. */
export function reshaped(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}
