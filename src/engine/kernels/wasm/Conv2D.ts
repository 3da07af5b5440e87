import { wrappingStock } from '../registry';
import { withExplicitSamePadding } from './samePaddingGuard';

export const conv2DKernel = wrappingStock('Conv2D', 'wasm', withExplicitSamePadding);
