import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../src/engine/backend';

// @tensorflow/tfjs-node is an optional dependency that cannot install on these machines
// (its install downloads libtensorflow); these tests state that premise instead of assuming it.
function tfjsNodeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

test('premise: @tensorflow/tfjs-node is not installed here', () => {
  assert.equal(tfjsNodeInstalled(), false);
});

test("an explicit 'tensorflow' fails with a clear message when tfjs-node is absent", async () => {
  await assert.rejects(selectBackend('tensorflow'), {
    message: "backend 'tensorflow' is not available: @tensorflow/tfjs-node is not installed",
  });
});

test("a wasm folder without the binaries is refused with the folder named", async () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'gl-wasm-'));
  try {
    await assert.rejects(selectBackend('wasm', { wasmDir: empty }), (error: Error) => {
      assert.match(error.message, /^backend 'wasm' is not available: tfjs-backend-wasm-simd\.wasm not found in /);
      assert.ok(error.message.includes(empty));
      return true;
    });
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("'auto' picks wasm here and can run a convolution's gradient on it", async () => {
  assert.equal(await selectBackend('auto'), 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  const x = tf.randomNormal([2, 5, 5, 1], 0, 1, 'float32', 1);
  const w = tf.variable(tf.randomNormal([3, 3, 1, 2], 0, 1, 'float32', 2));
  const { grads } = tf.variableGrads(() => tf.sum(tf.conv2d(x as tf.Tensor4D, w as tf.Variable<tf.Rank.R4>, 1, 'same')));
  assert.deepEqual(grads[w.name].shape, [3, 3, 1, 2]);
});

test("'cpu' works and selecting twice is harmless", async () => {
  assert.equal(await selectBackend('cpu'), 'cpu');
  assert.equal(await selectBackend('cpu'), 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(await selectBackend('wasm'), 'wasm');
  assert.deepEqual(Array.from(tf.add(tf.scalar(1), tf.scalar(2)).dataSync()), [3]);
});
