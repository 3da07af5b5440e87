import { wrappingStock } from '../registry';
import { withExplicitSamePadding } from './samePaddingGuard';

export const fusedConv2DKernel = wrappingStock('FusedConv2D', 'wasm', withExplicitSamePadding);
