import type * as tf from '@tensorflow/tfjs';
import { adamUpdateInto, type AdamStepAttrs } from '../adamUpdateLoop';
import { ADAM_UPDATE, type ProjectKernel } from '../registry';
import { float32Values, type CpuBackend } from './cpuBackend';

/** One variable's Adam step in one pass over flat arrays, in place of the stock optimizer's 12 ops. */
function adamUpdate({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const cpu = backend as CpuBackend;
  const { value, firstMoment, secondMoment, gradient } = inputs as Record<string, tf.TensorInfo>;
  const values = (info: tf.TensorInfo) => float32Values(cpu, info);
  const size = values(value).length;
  const targets = { value: new Float32Array(size), firstMoment: new Float32Array(size), secondMoment: new Float32Array(size) };
  adamUpdateInto(
    { value: values(value), firstMoment: values(firstMoment), secondMoment: values(secondMoment), gradient: values(gradient) },
    attrs as unknown as AdamStepAttrs,
    targets,
  );
  return [targets.value, targets.firstMoment, targets.secondMoment].map((data) => cpu.makeTensorInfo(value.shape, 'float32', data));
}

export const adamUpdateKernel: ProjectKernel = {
  kernelName: ADAM_UPDATE,
  backendName: 'cpu',
  create: () => adamUpdate,
};
