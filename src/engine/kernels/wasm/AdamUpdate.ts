import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { adamUpdateInto, type AdamStepAttrs } from '../adamUpdateLoop';
import { ADAM_UPDATE, type ProjectKernel } from '../registry';

/**
 * One variable's Adam step (new value, first and second moment) in one pass over the wasm
 * heap, in place of the stock optimizer's 12 ops per variable: on the 10-layer BatchNorm net
 * (32 variables) Adam was a third of the step's ~1100 kernel calls, each paying TF.js's
 * per-op bookkeeping on tensors of a few hundred elements.
 */
function adamUpdate({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const wasm = backend as BackendWasm;
  const { value, firstMoment, secondMoment, gradient } = inputs as Record<string, tf.TensorInfo>;
  const outputs = [value, firstMoment, secondMoment].map((info) => wasm.makeOutput(info.shape, 'float32'));
  // Views are taken after the allocations: a heap growth detaches views taken before it.
  const view = (info: tf.TensorInfo) => wasm.typedArrayFromHeap(info) as Float32Array;
  const [newValue, newFirstMoment, newSecondMoment] = outputs.map(view);
  adamUpdateInto(
    { value: view(value), firstMoment: view(firstMoment), secondMoment: view(secondMoment), gradient: view(gradient) },
    attrs as unknown as AdamStepAttrs,
    { value: newValue, firstMoment: newFirstMoment, secondMoment: newSecondMoment },
  );
  return outputs;
}

export const adamUpdateKernel: ProjectKernel = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  create: () => adamUpdate,
};
