import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { selectBackend } from '../src/engine/backend';
import { loadModelFile } from '../src/engine/model/load';
import { seededRandom } from '../src/engine/train/random';
import { Trainer } from '../src/engine/train/trainer';
import type { StepStats } from '../src/shared/stats';

/**
 * The samples must show what their names say: these are the few steps that prove it (a
 * 100-step run on Fashion-MNIST is the CLI's job; its numbers are in samples/README.md).
 */
const root = path.resolve(__dirname, '../..');

function imageBatch(seed: number, size: number): { x: tf.Tensor; y: tf.Tensor } {
  const random = seededRandom(seed);
  const x = tf.tensor4d(Float32Array.from({ length: size * 784 }, () => random()), [size, 28, 28, 1]);
  const labels = tf.tensor1d(Int32Array.from({ length: size }, () => Math.floor(random() * 10)), 'int32');
  const y = tf.oneHot(labels, 10).toFloat();
  labels.dispose();
  return { x, y };
}

async function run(sample: string, steps: number): Promise<StepStats[]> {
  await selectBackend('auto');
  const loaded = await loadModelFile(path.join(root, 'samples', sample, 'keras2.json'), { seed: 42 });
  const settings = loaded.trainingConfig ?? {};
  const trainer = new Trainer(loaded.model, {
    optimizer: settings.optimizer === 'sgd' ? 'sgd' : 'adam',
    learningRate: settings.learningRate ?? 0.001,
    loss: 'categorical_crossentropy',
    seed: 42,
  });
  const history: StepStats[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      const { x, y } = imageBatch(step, 16);
      history.push(trainer.stepInstrumented(x, y, step));
      tf.dispose([x, y]);
    }
  } finally {
    trainer.dispose();
    loaded.model.dispose();
  }
  return history;
}

function convRms(stats: StepStats): { first: number; last: number } {
  const convs = stats.layers.filter((l) => l.layer.startsWith('conv2d'));
  assert.equal(convs.length, 10);
  return { first: convs[0].gradRms, last: convs[convs.length - 1].gradRms };
}

test('vanishing-sigmoid-10conv: the first conv gets under 1e-3 of the last conv gradient RMS', async () => {
  const [step] = await run('vanishing-sigmoid-10conv', 1);
  const { first, last } = convRms(step);
  assert.ok(first / last < 1e-3, `first/last ${first / last}`);
  assert.ok(Math.abs(step.loss - Math.log(10)) < 0.2, `loss ${step.loss} near ln 10`);
});

test('healthy-relu-bn-10conv: no vanishing, the first conv gradient RMS is of the order of the last', async () => {
  const [step] = await run('healthy-relu-bn-10conv', 1);
  const { first, last } = convRms(step);
  assert.ok(first / last > 0.1 && first / last < 100, `first/last ${first / last}`);
});

test('exploding-large-init: with its SGD 0.01, gradients are huge at once and non-finite within 3 steps', async () => {
  const history = await run('exploding-large-init', 3);
  assert.ok(Math.max(...history[0].layers.map((l) => l.gradL2)) > 1e3, 'gradient L2 above 1e3 at step 0');
  const nonFinite = history.some((s) => !Number.isFinite(s.loss) || s.layers.some((l) => l.gradNonFinite > 0 || !Number.isFinite(l.gradL2)));
  assert.ok(nonFinite, `losses ${history.map((s) => s.loss).join(', ')}`);
});
