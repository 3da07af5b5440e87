import * as tf from '@tensorflow/tfjs';
import type { ProjectKernel } from '../registry';
import { float32Values, type CpuBackend } from './cpuBackend';

/**
 * Max-pool gradient over flat typed arrays: each output's gradient goes to the first maximum
 * of its window (row-major, strict >, so NaN windows get none), exactly as the stock cpu kernel
 * routes it, which does the same through per-element TensorBuffer accessors and was measured
 * 10–25× slower.
 */
function maxPoolGrad({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const cpu = backend as CpuBackend;
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const [batch, inHeight, inWidth, channels] = input.shape;
  const { outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  const x = float32Values(cpu, input);
  const gradient = float32Values(cpu, dy);
  const dx = new Float32Array(x.length);

  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const rowStart = Math.max(oy * strideHeight - top, 0);
      const rowEnd = Math.min(oy * strideHeight - top + filterHeight, inHeight);
      for (let ox = 0; ox < outWidth; ox++) {
        const colStart = Math.max(ox * strideWidth - left, 0);
        const colEnd = Math.min(ox * strideWidth - left + filterWidth, inWidth);
        const dyOffset = ((b * outHeight + oy) * outWidth + ox) * channels;
        for (let c = 0; c < channels; c++) {
          let best = Number.NEGATIVE_INFINITY;
          let bestIndex = -1;
          for (let row = rowStart; row < rowEnd; row++) {
            let index = ((b * inHeight + row) * inWidth + colStart) * channels + c;
            for (let col = colStart; col < colEnd; col++, index += channels) {
              if (x[index] > best) {
                best = x[index];
                bestIndex = index;
              }
            }
          }
          if (bestIndex >= 0) dx[bestIndex] += gradient[dyOffset + c];
        }
      }
    }
  }
  return cpu.makeTensorInfo(input.shape, 'float32', dx);
}

export const maxPoolGradKernel: ProjectKernel = {
  kernelName: 'MaxPoolGrad',
  backendName: 'cpu',
  create: () => maxPoolGrad,
};
