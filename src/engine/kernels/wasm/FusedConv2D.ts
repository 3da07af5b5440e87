import type { ProjectKernel } from '../registry';
import { withExplicitSamePadding } from './samePaddingGuard';

export const fusedConv2DKernel: ProjectKernel = {
  kernelName: 'FusedConv2D',
  backendName: 'wasm',
  create: (stock) => withExplicitSamePadding('FusedConv2D', stock),
};
