import * as tf from '@tensorflow/tfjs';

/**
 * Max-pool gradient over flat NHWC arrays: each output's gradient goes to the first maximum of
 * its window (row-major, strict >, so an all-NaN window passes none), the rule TF and TF.js's
 * cpu kernel use. Shared by the cpu and wasm kernels so both backends route ties alike (wasm's
 * own kernel picks the last maximum). `dx` must be zero-filled.
 */
export function maxPoolGradInto(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  inputShape: [number, number, number, number],
  attrs: tf.MaxPoolGradAttrs,
): void {
  const info = tf.backend_util.computePool2DInfo(inputShape, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const [batch, inHeight, inWidth, channels] = inputShape;
  const { outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;

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
          if (bestIndex >= 0) dx[bestIndex] += dy[dyOffset + c];
        }
      }
    }
  }
}
