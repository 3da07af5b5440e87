import { registerProjectKernels, type ProjectKernel } from '../registry';
import { adamUpdateKernel } from './AdamUpdate';
import { batchNormTrainingGradKernel } from './BatchNormTrainingGrad';
import { channelMomentsKernel } from './ChannelMoments';
import { conv2DBackpropFilterKernel } from './Conv2DBackpropFilter';
import { maxPoolGradKernel } from './MaxPoolGrad';

export const cpuKernels: readonly ProjectKernel[] = [conv2DBackpropFilterKernel, maxPoolGradKernel, channelMomentsKernel, batchNormTrainingGradKernel, adamUpdateKernel];

export function registerCpuKernels(): void {
  registerProjectKernels(cpuKernels);
}
