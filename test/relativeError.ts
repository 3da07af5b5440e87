import assert from 'node:assert/strict';
import type * as tf from '@tensorflow/tfjs';

/** max |actual − expected| over max |expected|: an error relative to the tensor's own scale. */
export function relativeError(actual: ArrayLike<number> | tf.Tensor, expected: ArrayLike<number> | tf.Tensor): number {
  const a = 'dataSync' in actual ? actual.dataSync() : actual;
  const e = 'dataSync' in expected ? expected.dataSync() : expected;
  assert.equal(a.length, e.length);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    scale = Math.max(scale, Math.abs(e[i]));
    worst = Math.max(worst, Math.abs(a[i] - e[i]));
  }
  return worst / (scale || 1);
}
