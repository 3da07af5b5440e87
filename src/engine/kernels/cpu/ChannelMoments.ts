import type * as tf from '@tensorflow/tfjs';
import { channelMomentsInto } from '../batchNormLoops';
import { CHANNEL_MOMENTS, type ProjectKernel } from '../registry';
import { float32Values, type CpuBackend } from './cpuBackend';

/** Per-channel batch mean and variance in two passes, in place of tf.moments' dozen ops. */
function channelMoments({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const cpu = backend as CpuBackend;
  const x = inputs.x as tf.TensorInfo;
  const channels = x.shape[x.shape.length - 1];
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  channelMomentsInto(float32Values(cpu, x), channels, mean, variance);
  return [cpu.makeTensorInfo([channels], 'float32', mean), cpu.makeTensorInfo([channels], 'float32', variance)];
}

export const channelMomentsKernel: ProjectKernel = {
  kernelName: CHANNEL_MOMENTS,
  backendName: 'cpu',
  create: () => channelMoments,
};
