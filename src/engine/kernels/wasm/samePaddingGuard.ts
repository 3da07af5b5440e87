import * as tf from '@tensorflow/tfjs';
import { resolvedPadding } from '../convGeometry';

interface ConvLikeAttrs {
  strides: [number, number] | number;
  pad: tf.Conv2DAttrs['pad'];
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Wraps wasm's forward convolution so it never receives 'same' padding. With 'same', wasm hands
 * XNNPACK its TensorFlow-SAME flag, which computes wrong outputs for even kernel widths with
 * unequal strides (measured: 2×2 kernel, strides [1,3] off by up to 12); the padding TF.js
 * itself resolves is right, so it is passed explicitly instead.
 */
export function withExplicitSamePadding(stock: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const convAttrs = attrs as unknown as ConvLikeAttrs;
    if (convAttrs.pad !== 'same') return stock({ inputs, backend, attrs });
    const x = inputs.x as tf.TensorInfo;
    const filter = inputs.filter as tf.TensorInfo;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      convAttrs.strides,
      convAttrs.dilations,
      'same',
      convAttrs.dimRoundingMode,
    );
    return stock({ inputs, backend, attrs: { ...attrs, pad: resolvedPadding(info) } as unknown as tf.NamedAttrMap });
  };
}
