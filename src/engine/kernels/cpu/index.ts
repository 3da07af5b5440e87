import { registerProjectKernels, type ProjectKernel } from '../registry';
import { conv2DBackpropFilterKernel } from './Conv2DBackpropFilter';
import { maxPoolGradKernel } from './MaxPoolGrad';

export const cpuKernels: readonly ProjectKernel[] = [conv2DBackpropFilterKernel, maxPoolGradKernel];

export function registerCpuKernels(): void {
  registerProjectKernels(cpuKernels);
}
