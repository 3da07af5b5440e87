import { registerCpuKernels } from './cpu';
import { registerWasmKernels } from './wasm';

/** Registers the project's kernels for a backend; a no-op for backends that need none. */
export function registerKernelsFor(backendName: string): void {
  if (backendName === 'wasm') registerWasmKernels();
  else if (backendName === 'cpu') registerCpuKernels();
}
