import type * as tf from '@tensorflow/tfjs';
import { batchNormGradInto } from '../batchNormLoops';
import { BATCH_NORM_TRAINING_GRAD, type ProjectKernel } from '../registry';
import { float32Values, type CpuBackend } from './cpuBackend';

/** The training BatchNormalization gradient (dx, dγ, dβ) in two passes over flat arrays. */
function batchNormTrainingGrad({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const cpu = backend as CpuBackend;
  const { x, dy, gamma, mean, variance } = inputs as Record<string, tf.TensorInfo>;
  const channels = gamma.shape[0];
  const xValues = float32Values(cpu, x);
  const dx = new Float32Array(xValues.length);
  const dGamma = new Float32Array(channels);
  const dBeta = new Float32Array(channels);
  const values = (info: tf.TensorInfo) => float32Values(cpu, info);
  batchNormGradInto(
    { x: xValues, dy: values(dy), gamma: values(gamma), mean: values(mean), variance: values(variance), epsilon: (attrs as { epsilon: number }).epsilon },
    dx,
    dGamma,
    dBeta,
  );
  return [cpu.makeTensorInfo(x.shape, 'float32', dx), cpu.makeTensorInfo([channels], 'float32', dGamma), cpu.makeTensorInfo([channels], 'float32', dBeta)];
}

export const batchNormTrainingGradKernel: ProjectKernel = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: 'cpu',
  create: () => batchNormTrainingGrad,
};
