// wasm kernels that replace stock ones for speed (AvgPoolGrad, Tanh), each against the stock
// TF.js cpu kernel on the same values: strides 1 and 2, overlapping and odd windows, 'same'
// and 'valid' padding (padded windows go back to wasm's stock kernel), batch 1 and 32.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';
import { isProjectKernel } from '../src/engine/kernels/registry';
import { relativeError } from './relativeError';

const TOLERANCE = 1e-5;

/** Deterministic values in [-scale, scale): the same inputs reach both backends. */
function seededValues(size: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0 || 1;
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    values[i] = ((state >>> 0) / 2 ** 32 - 0.5) * 2 * scale;
  }
  return values;
}

/** Runs one kernel on a backend from plain arrays and reads the result back. */
async function runOn(backendName: 'wasm' | 'cpu', kernelName: string, inputs: Record<string, { values: Float32Array; shape: number[] }>, attrs: tf.NamedAttrMap): Promise<Float32Array> {
  await tf.setBackend(backendName);
  const tensors = Object.fromEntries(Object.entries(inputs).map(([name, { values, shape }]) => [name, tf.tensor(values, shape, 'float32')]));
  const out = tf.engine().runKernel(kernelName, tensors, attrs) as tf.Tensor;
  const result = out.dataSync() as Float32Array;
  tf.dispose([out, ...Object.values(tensors)]);
  return result;
}

before(async () => {
  assert.equal(await selectBackend('cpu'), 'cpu');
  assert.equal(await selectBackend('wasm'), 'wasm');
});

describe('wasm kernels against the stock cpu kernels', () => {
  test('the replacements are registered on wasm and the references are stock on cpu', () => {
    for (const name of ['AvgPoolGrad', 'Tanh']) {
      assert.ok(isProjectKernel(name, 'wasm'), name);
      assert.ok(!isProjectKernel(name, 'cpu'), name);
    }
  });

  test('AvgPoolGrad equals the stock kernel', async () => {
    const cases: Array<{ x: number[]; size: [number, number]; strides: [number, number]; pad: 'same' | 'valid' }> = [
      { x: [32, 28, 28, 6], size: [2, 2], strides: [2, 2], pad: 'valid' },
      { x: [1, 28, 28, 6], size: [2, 2], strides: [2, 2], pad: 'valid' },
      { x: [32, 10, 10, 16], size: [2, 2], strides: [2, 2], pad: 'same' },
      { x: [2, 9, 7, 3], size: [3, 3], strides: [2, 2], pad: 'valid' },
      { x: [2, 8, 8, 4], size: [3, 3], strides: [1, 1], pad: 'valid' },
      { x: [3, 9, 8, 2], size: [2, 3], strides: [2, 1], pad: 'valid' },
      { x: [2, 9, 9, 2], size: [2, 2], strides: [2, 2], pad: 'same' }, // padded: stock kernel
      { x: [1, 7, 7, 3], size: [3, 3], strides: [1, 1], pad: 'same' }, // padded: stock kernel
    ];
    for (const [n, c] of cases.entries()) {
      const info = tf.backend_util.computePool2DInfo(c.x as [number, number, number, number], c.size, c.strides, 1, c.pad);
      const dyShape = [c.x[0], info.outHeight, info.outWidth, c.x[3]];
      const inputs = {
        dy: { values: seededValues(dyShape.reduce((a, b) => a * b), 11 + n), shape: dyShape },
        input: { values: seededValues(c.x.reduce((a, b) => a * b), 29 + n), shape: c.x },
      };
      const attrs = { filterSize: c.size, strides: c.strides, pad: c.pad };
      const ours = await runOn('wasm', 'AvgPoolGrad', inputs, attrs);
      const stock = await runOn('cpu', 'AvgPoolGrad', inputs, attrs);
      const padded = info.padInfo.top + info.padInfo.bottom + info.padInfo.left + info.padInfo.right > 0;
      // With padding TF.js's stock kernels disagree on the divisor, which is why ours hands those cases back.
      if (padded) continue;
      const err = relativeError(ours, stock);
      assert.ok(err <= TOLERANCE, `${JSON.stringify(c)}: relative error ${err}`);
    }
  });

  test('Tanh equals the stock kernel element by element, near 0, at the series limit and at the extremes', async () => {
    const special = [0, -0, 1e-30, -1e-8, 1e-4, 0.0499, -0.0501, 0.05, 0.3, -0.7, 5, -9, 20, -88, Infinity, -Infinity, NaN];
    const spread = seededValues(32 * 28 * 28 * 6, 7, 4);
    const small = seededValues(5000, 8, 0.06);
    const values = Float32Array.from([...special, ...spread, ...small]);
    const ours = await runOn('wasm', 'Tanh', { x: { values, shape: [values.length] } }, {});
    const stock = await runOn('cpu', 'Tanh', { x: { values, shape: [values.length] } }, {});
    for (let i = 0; i < values.length; i++) {
      if (Number.isNaN(stock[i])) {
        assert.ok(Number.isNaN(ours[i]), `tanh(${values[i]}) = ${ours[i]}, expected NaN`);
        continue;
      }
      // Element-wise relative error: tanh's values near 0 are as much the point as the large ones.
      const err = Math.abs(ours[i] - stock[i]) / Math.max(Math.abs(stock[i]), 1e-37);
      assert.ok(err <= TOLERANCE, `tanh(${values[i]}) = ${ours[i]}, stock ${stock[i]}: relative error ${err}`);
    }
  });
});
