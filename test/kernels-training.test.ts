// A conv net with every layer kind the sample nets use trains on wasm, and its gradients equal
// cpu's: the project's kernels carry real training, not just isolated calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';

const TOLERANCE = 1e-4;

function buildNet(): tf.Sequential {
  const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [12, 12, 2], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: seeded(1) }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  model.add(tf.layers.conv2d({ filters: 8, kernelSize: 2, strides: [1, 2], padding: 'same', useBias: false, kernelInitializer: seeded(2) }));
  model.add(tf.layers.batchNormalization({ axis: -1 }));
  model.add(tf.layers.activation({ activation: 'tanh' }));
  model.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'sigmoid', kernelInitializer: seeded(3) }));
  model.add(tf.layers.averagePooling2d({ poolSize: 1, strides: 1 }));
  model.add(tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: seeded(4) }));
  model.add(tf.layers.globalAveragePooling2d({}));
  model.add(tf.layers.dense({ units: 5, kernelInitializer: seeded(5) }));
  return model;
}

function lossOf(model: tf.Sequential, x: tf.Tensor, labels: tf.Tensor): () => tf.Scalar {
  return () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
}

/** A batch built from plain float arrays on the current backend (see the note below). */
function batch(size: number, seed: number): { x: tf.Tensor; labels: tf.Tensor } {
  const x = tf.randomNormal([size, 12, 12, 2], 0, 1, 'float32', seed);
  const labels = tf.tensor2d(Array.from({ length: size }, (_, i) => Array.from({ length: 5 }, (_, c) => (c === i % 5 ? 1 : 0))));
  return { x, labels };
}

/**
 * Gradients of a freshly built net (seeded, so identical on every backend), in variable order.
 * Everything is created on the backend under test: TF.js moves a cpu tensor made by
 * `cast(int32 → float32)` to wasm with its int32 bytes, corrupting it, so nothing crosses over.
 */
function gradientsOn(backendName: string): Array<{ name: string; values: Float32Array }> {
  const model = buildNet();
  const { x, labels } = batch(6, 7);
  const { value, grads } = tf.variableGrads(lossOf(model, x, labels));
  const result = model.trainableWeights.map((weight) => ({ name: `${backendName} ${weight.originalName}`, values: grads[weight.name].dataSync() as Float32Array }));
  tf.dispose([value, x, labels, ...Object.values(grads)]);
  model.dispose();
  return result;
}

test('gradients of a conv net on wasm equal those on cpu', async () => {
  await selectBackend('cpu');
  const onCpu = gradientsOn('cpu');
  await selectBackend('wasm');
  const onWasm = gradientsOn('wasm');

  assert.equal(onWasm.length, onCpu.length);
  assert.ok(onCpu.length >= 10, 'every layer kind contributes trainable variables');
  onCpu.forEach(({ name, values: expected }, i) => {
    const actual = onWasm[i].values;
    let scale = 0;
    let worst = 0;
    for (let k = 0; k < expected.length; k++) {
      scale = Math.max(scale, Math.abs(expected[k]));
      worst = Math.max(worst, Math.abs(actual[k] - expected[k]));
    }
    assert.ok(scale > 0, `${name}: gradient is not all zero`);
    assert.ok(worst / scale <= TOLERANCE, `${name}: relative error ${worst / scale}`);
  });
});

test('the conv net trains on wasm: loss falls and no tensor leaks', async () => {
  await selectBackend('wasm');
  const model = buildNet();
  const { x, labels } = batch(8, 11);
  const optimizer = tf.train.adam(0.01);
  const losses: number[] = [];
  let tensorsAfterFirstStep = 0;
  for (let step = 0; step < 15; step++) {
    const loss = optimizer.minimize(lossOf(model, x, labels), true) as tf.Scalar;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
    if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors;
  }
  assert.ok(losses.every(Number.isFinite), `finite losses: ${losses}`);
  assert.ok(losses[losses.length - 1] < 0.7 * losses[0], `loss falls: ${losses[0]} → ${losses[losses.length - 1]}`);
  assert.equal(tf.memory().numTensors, tensorsAfterFirstStep);
  model.dispose();
  optimizer.dispose();
  tf.dispose([x, labels]);
});
