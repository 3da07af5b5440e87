import type { ProjectKernel } from '../registry';
import { withExplicitSamePadding } from './samePaddingGuard';

export const conv2DKernel: ProjectKernel = {
  kernelName: 'Conv2D',
  backendName: 'wasm',
  create: (stock) => withExplicitSamePadding('Conv2D', stock),
};
