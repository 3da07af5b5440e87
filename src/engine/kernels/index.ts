import { installBatchNormTraining } from './batchNormTraining';
import { registerCpuKernels } from './cpu';
import { installLeakyReluGradient } from './leakyReluGradient';
import { registerWasmKernels } from './wasm';

/**
 * Registers the project's kernels for a backend (none for tfjs-node, which has them all), and
 * the closed-form BatchNormalization gradient, which helps every backend, and the one-pass
 * LeakyReLU gradient where the backend has its kernel.
 */
export function registerKernelsFor(backendName: string): void {
  if (backendName === 'wasm') registerWasmKernels();
  else if (backendName === 'cpu') registerCpuKernels();
  installBatchNormTraining();
  installLeakyReluGradient();
}
