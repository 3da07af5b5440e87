import { registerProjectKernels, type ProjectKernel } from '../registry';
import { adamUpdateKernel } from './AdamUpdate';
import { avgPoolGradKernel } from './AvgPoolGrad';
import { batchMatMulKernel } from './BatchMatMul';
import { batchNormTrainingGradKernel } from './BatchNormTrainingGrad';
import { broadcastingBinaryKernels } from './broadcastByTiling';
import { channelMomentsKernel } from './ChannelMoments';
import { conv2DKernel } from './Conv2D';
import { conv2DBackpropFilterKernel } from './Conv2DBackpropFilter';
import { conv2DBackpropInputKernel } from './Conv2DBackpropInput';
import { fusedBatchNormKernel } from './FusedBatchNorm';
import { fusedConv2DKernel } from './FusedConv2D';
import { identityKernel } from './Identity';
import { leakyReluGradKernel } from './LeakyReluGrad';
import { maxPoolGradKernel } from './MaxPoolGrad';
import { sliceKernel } from './Slice';
import { sumKernel } from './Sum';
import { tanhKernel } from './Tanh';
import { tileKernel } from './Tile';

export const wasmKernels: readonly ProjectKernel[] = [
  conv2DKernel,
  fusedConv2DKernel,
  conv2DBackpropFilterKernel,
  conv2DBackpropInputKernel,
  maxPoolGradKernel,
  avgPoolGradKernel,
  tileKernel,
  ...broadcastingBinaryKernels,
  sliceKernel,
  fusedBatchNormKernel,
  channelMomentsKernel,
  batchNormTrainingGradKernel,
  batchMatMulKernel,
  identityKernel,
  adamUpdateKernel,
  sumKernel,
  tanhKernel,
  leakyReluGradKernel,
];

export function registerWasmKernels(): void {
  registerProjectKernels(wasmKernels);
}
