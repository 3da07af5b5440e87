import * as tf from '@tensorflow/tfjs';

/**
 * One of the project's kernels. `create` receives the kernel TF.js already had under the same
 * name and backend (if any), so a kernel that only fixes or speeds up some cases can hand the
 * rest back to the stock implementation.
 */
export interface ProjectKernel {
  kernelName: string;
  backendName: string;
  create(stock: tf.KernelFunc | undefined): tf.KernelFunc;
}

/**
 * Kernels with no TF.js counterpart, under the project's own names; code that runs them checks
 * they are registered for the active backend (tfjs-node has none) and otherwise uses TF.js ops.
 */
export const CHANNEL_MOMENTS = 'GradientLensChannelMoments';
export const BATCH_NORM_TRAINING_GRAD = 'GradientLensBatchNormTrainingGrad';
export const ADAM_UPDATE = 'GradientLensAdamUpdate';
export const LEAKY_RELU_GRAD = 'GradientLensLeakyReluGrad';

/** True when one of the project's own-name kernels above is registered for the active backend. */
export function activeBackendHas(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/** A kernel that speeds up or fixes some cases of the stock one and hands it the rest. */
export function wrappingStock(kernelName: string, backendName: string, wrap: (stock: tf.KernelFunc) => tf.KernelFunc): ProjectKernel {
  return {
    kernelName,
    backendName,
    create: (stock) => {
      if (!stock) throw new Error(`${backendName} has no stock ${kernelName} kernel`);
      return wrap(stock);
    },
  };
}

const ours = new WeakSet<tf.KernelFunc>();
/** The stock kernel each of ours replaced, by backend and name: for benchmarks against it. */
const replaced = new Map<string, tf.KernelFunc>();

/**
 * Registers each kernel unless it already is: registering twice would wrap our own kernel as
 * the "stock" one, and TF.js warns on every overwrite.
 */
export function registerProjectKernels(kernels: readonly ProjectKernel[]): void {
  for (const kernel of kernels) {
    const existing = tf.getKernel(kernel.kernelName, kernel.backendName);
    if (existing && ours.has(existing.kernelFunc)) continue;
    if (existing) tf.unregisterKernel(kernel.kernelName, kernel.backendName);
    const kernelFunc = kernel.create(existing?.kernelFunc);
    ours.add(kernelFunc);
    if (existing) replaced.set(`${kernel.backendName}/${kernel.kernelName}`, existing.kernelFunc);
    // The stock setup binds the wasm function our kernel may delegate to; TF.js reruns it on
    // every setBackend, so it must stay registered with the replacement.
    tf.registerKernel({
      kernelName: kernel.kernelName,
      backendName: kernel.backendName,
      kernelFunc,
      setupFunc: existing?.setupFunc,
      disposeFunc: existing?.disposeFunc,
    });
  }
}

/** True when the kernel currently registered under this name is one of the project's. */
export function isProjectKernel(kernelName: string, backendName: string): boolean {
  const existing = tf.getKernel(kernelName, backendName);
  return existing !== undefined && ours.has(existing.kernelFunc);
}

/** The stock kernel one of ours replaced (undefined where TF.js had none). */
export function replacedStockKernel(kernelName: string, backendName: string): tf.KernelFunc | undefined {
  return replaced.get(`${backendName}/${kernelName}`);
}
