import type * as tf from '@tensorflow/tfjs';

/**
 * The part of TF.js's cpu backend (MathBackendCPU) the project's cpu kernels use. Declared here
 * rather than imported so the engine depends on @tensorflow/tfjs only, not on its internals.
 */
export interface CpuBackend {
  data: { get(dataId: tf.DataId): { values: tf.backend_util.BackendValues } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.backend_util.BackendValues): tf.TensorInfo;
}

export function float32Values(backend: CpuBackend, info: tf.TensorInfo): Float32Array {
  const values = backend.data.get(info.dataId).values;
  if (!(values instanceof Float32Array)) throw new Error(`expected float32 data, got ${info.dtype}`);
  return values;
}
