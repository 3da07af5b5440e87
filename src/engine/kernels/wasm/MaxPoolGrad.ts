import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { maxPoolGradInto } from '../maxPoolGradLoop';
import type { ProjectKernel } from '../registry';

/**
 * Max-pool gradient as a JS loop over wasm heap views. wasm's own kernel was measured at
 * 2.2 ms per call on the small CNN's first pool (40 % of its training step) and sends tied
 * maxima's gradient to the last one, unlike cpu and TF; this one takes the first, like cpu.
 */
function maxPoolGrad({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { dy, input, output } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo; output?: tf.TensorInfo };
  const out = wasm.makeOutput(input.shape, 'float32');
  // Views are taken after the allocation: a heap growth detaches views taken before it.
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  maxPoolGradInto(
    wasm.typedArrayFromHeap(input) as Float32Array,
    output ? (wasm.typedArrayFromHeap(output) as Float32Array) : undefined,
    wasm.typedArrayFromHeap(dy) as Float32Array,
    dx,
    input.shape as [number, number, number, number],
    attrs as unknown as tf.MaxPoolGradAttrs,
  );
  return out;
}

export const maxPoolGradKernel: ProjectKernel = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  create: () => maxPoolGrad,
};
