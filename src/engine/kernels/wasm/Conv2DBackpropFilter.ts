import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { assertChannelsLast, explicitPadding } from '../convGeometry';
import type { ProjectKernel } from '../registry';
import { disposeIntermediates, runWasmKernel } from './stockKernels';

/**
 * The filter gradient of a 2-D convolution, which wasm 4.22 lacks (conv nets cannot train on
 * wasm without it). It is itself a convolution, run by wasm's XNNPACK Conv2D:
 *   dW[i, j, c, o] = Σ_{b, y, x} xPadded[b, y·sh + i, x·sw + j, c] · dy[b, y, x, o]
 * With the input seen as [c, H, W, b] and dy as a filter [OH, OW, b, o], that sum is a
 * stride-1 convolution whose dilation is the forward stride, giving [c, kh, kw, o].
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertChannelsLast(dataFormat, 'Conv2DBackpropFilter');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const [, inHeight, inWidth, inChannels] = x.shape;
  const [filterHeight, filterWidth, , outChannels] = filterShape;
  const { top, left } = info.padInfo;
  // Padding after the input so the convolution yields exactly the filter size; negative when
  // the forward pass never reached the last rows ('valid' with a stride), which are then
  // covered by a zero pad and cropped from the result.
  const bottom = filterHeight + (info.outHeight - 1) * info.strideHeight - inHeight - top;
  const right = filterWidth + (info.outWidth - 1) * info.strideWidth - inWidth - left;

  const intermediates: tf.TensorInfo[] = [];
  const inputAsBatchOfChannels = runWasmKernel('Transpose', wasm, { x }, { perm: [3, 1, 2, 0] });
  intermediates.push(inputAsBatchOfChannels);
  const dyAsFilter = runWasmKernel('Transpose', wasm, { x: dy }, { perm: [1, 2, 0, 3] });
  intermediates.push(dyAsFilter);
  let perChannel = runWasmKernel(
    'Conv2D',
    wasm,
    { x: inputAsBatchOfChannels, filter: dyAsFilter },
    {
      strides: 1,
      pad: explicitPadding(top, Math.max(bottom, 0), left, Math.max(right, 0)),
      dilations: [info.strideHeight, info.strideWidth],
      dataFormat: 'NHWC',
    },
  );
  intermediates.push(perChannel);
  if (bottom < 0 || right < 0) {
    perChannel = runWasmKernel('Slice', wasm, { x: perChannel }, { begin: [0, 0, 0, 0], size: [inChannels, filterHeight, filterWidth, outChannels] });
    intermediates.push(perChannel);
  }
  const dW = runWasmKernel('Transpose', wasm, { x: perChannel }, { perm: [1, 2, 0, 3] });
  disposeIntermediates(wasm, intermediates);
  return dW;
}

export const conv2DBackpropFilterKernel: ProjectKernel = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  create: () => conv2DBackpropFilter,
};
