import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ProjectKernel } from '../registry';

/**
 * Identity by sharing the data (reference-counted, as wasm's own Reshape and the cpu backend's
 * Identity do) instead of copying it: TF.js tensors are immutable, and gradients pass through
 * Identity hundreds of times per training step (300 calls per step on the 10-layer BatchNorm net).
 */
function identityByReference({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  (backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityKernel: ProjectKernel = {
  kernelName: 'Identity',
  backendName: 'wasm',
  create: () => identityByReference,
};
