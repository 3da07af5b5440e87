// The fused Adam against tf.train.adam: same variables, same gradients, many steps, on the
// backends that have the project's Adam kernel; and the stock optimizer's interface kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';
import { createOptimizer, FusedAdamOptimizer } from '../src/engine/train/optimizers';
import { relativeError } from './relativeError';

const TOLERANCE = 1e-6;
const SHAPES = [[3, 3, 2, 4], [4], [7, 10], [1]];

/** Variables trained by `optimizer` on fixed pseudo-random gradients (some steps large, one variable skipped once). */
function train(optimizer: tf.Optimizer, steps: number, asList: boolean): tf.Variable[] {
  const variables = SHAPES.map((shape, i) => tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', 100 + i)));
  for (let step = 0; step < steps; step++) {
    tf.tidy(() => {
      const gradients = variables.map((v, i) => tf.mul(tf.randomNormal(v.shape, 0, 1, 'float32', 1000 * step + i + 1), step % 7 === 3 ? 50 : 0.01));
      if (asList) {
        optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: gradients[i] })));
      } else {
        optimizer.applyGradients(Object.fromEntries(variables.map((v, i) => [v.name, gradients[i]])));
      }
    });
  }
  return variables;
}

for (const backendName of ['wasm', 'cpu'] as const) {
  for (const asList of [false, true]) {
    test(`${backendName}: fused Adam equals tf.train.adam over 30 steps (gradients as a ${asList ? 'list' : 'map'})`, async () => {
      await selectBackend(backendName);
      for (const learningRate of [1e-3, 0.05]) {
        const stock = tf.train.adam(learningRate);
        const fused = new FusedAdamOptimizer(learningRate);
        const expected = train(stock, 30, asList);
        const actual = train(fused, 30, asList);
        actual.forEach((variable, i) => {
          const err = relativeError(variable, expected[i]);
          assert.ok(err <= TOLERANCE, `lr ${learningRate}, variable ${SHAPES[i]}: relative error ${err}`);
        });
        const [stockWeights, fusedWeights] = [await stock.getWeights(), await fused.getWeights()];
        assert.deepEqual(fusedWeights.map((w) => w.name.replace(/\d+/g, '')), stockWeights.map((w) => w.name.replace(/\d+/g, '')));
        fusedWeights.forEach((w, i) => assert.ok(relativeError(w.tensor, stockWeights[i].tensor) <= TOLERANCE, `state ${w.name}`));
        tf.dispose([...expected, ...actual]);
        stock.dispose();
        fused.dispose();
      }
    });
  }
}

test('fused Adam keeps the stock optimizer’s identity and leaks no tensors', async () => {
  await selectBackend('wasm');
  const optimizer = createOptimizer('adam', 1e-3);
  assert.ok(optimizer instanceof tf.AdamOptimizer);
  assert.equal(optimizer.getClassName(), 'Adam');
  assert.deepEqual(optimizer.getConfig(), tf.train.adam(1e-3).getConfig());
  const variable = tf.variable(tf.ones([5, 5]));
  const step = () => optimizer.minimize(() => tf.sum(tf.square(variable)));
  step();
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < 20; i++) step();
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(optimizer.iterations, 21);
  optimizer.dispose();
  variable.dispose();
});
