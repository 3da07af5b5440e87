// The closed-form training BatchNormalization against TF.js autodiff of the textbook formula,
// on both backends: output, gradients for x, γ and β, and the moving statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';
import { BATCH_NORM_TRAINING_GRAD, CHANNEL_MOMENTS } from '../src/engine/kernels/registry';
import { relativeError } from './relativeError';

const TOLERANCE = 1e-4;

for (const backendName of ['wasm', 'cpu'] as const) {
  for (const shape of [[6, 5, 4, 3], [16, 7]]) {
    test(`${backendName}: BatchNormalization ${shape} in training matches autodiff of (x − μ)/√(σ² + ε)·γ + β`, async () => {
      await selectBackend(backendName);
      const channels = shape[shape.length - 1];
      const epsilon = 1e-3;
      const momentum = 0.9;
      const layer = tf.layers.batchNormalization({ axis: -1, epsilon, momentum, gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal' });
      const x = tf.randomNormal(shape, 2, 3, 'float32', 1);
      const weights = tf.randomNormal(shape, 0, 1, 'float32', 2);
      layer.build(x.shape);
      // getWeights hands out the variables themselves; the test needs the values before training.
      const [gamma, beta, movingMean, movingVariance] = layer.getWeights().map((w) => tf.clone(w));
      const axes = shape.slice(0, -1).map((_, axis) => axis);

      const input = tf.variable(x);
      const viaLayer = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, weights)));
      const layerGamma = layer.trainableWeights[0].read();
      const layerBeta = layer.trainableWeights[1].read();
      const [g, b] = [tf.variable(gamma), tf.variable(beta)];
      const textbook = tf.variableGrads(() => {
        const { mean, variance } = tf.moments(input, axes);
        return tf.sum(tf.mul(tf.add(tf.mul(tf.div(tf.sub(input, mean), tf.sqrt(tf.add(variance, epsilon))), g), b), weights));
      }, [input, g, b]);
      const pairs: Array<[string, tf.Tensor, tf.Tensor]> = [
        ['x', viaLayer.grads[input.name], textbook.grads[input.name]],
        ['gamma', viaLayer.grads[(layerGamma as tf.Variable).name], textbook.grads[g.name]],
        ['beta', viaLayer.grads[(layerBeta as tf.Variable).name], textbook.grads[b.name]],
      ];
      for (const [name, actual, expected] of pairs) {
        assert.ok(actual && expected, `gradient for ${name}`);
        const err = relativeError(actual, expected);
        assert.ok(err <= TOLERANCE, `d/d${name}: relative error ${err}`);
      }

      // One training-mode forward pass moves the averages toward the batch statistics.
      layer.setWeights([gamma, beta, movingMean, movingVariance]);
      const y = layer.apply(x, { training: true }) as tf.Tensor;
      const { mean, variance } = tf.moments(x, axes);
      const expectedOutput = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), gamma), beta);
      assert.ok(relativeError(y, expectedOutput) <= TOLERANCE, 'output');
      const [, , newMean, newVariance] = layer.getWeights();
      const towards = (old: tf.Tensor, batch: tf.Tensor) => tf.add(tf.mul(old, momentum), tf.mul(batch, 1 - momentum));
      assert.ok(relativeError(newMean, towards(movingMean, mean)) <= TOLERANCE, 'moving mean');
      assert.ok(relativeError(newVariance, towards(movingVariance, variance)) <= TOLERANCE, 'moving variance');
      assert.equal(newMean.shape[0], channels);

      // Inference uses the moving statistics (the layer's own code path).
      const inference = layer.apply(x, { training: false }) as tf.Tensor;
      const expectedInference = tf.add(tf.mul(tf.div(tf.sub(x, newMean), tf.sqrt(tf.add(newVariance, epsilon))), gamma), beta);
      assert.ok(relativeError(inference, expectedInference) <= TOLERANCE, 'inference');
    });
  }
}

for (const backendName of ['wasm', 'cpu'] as const) {
  test(`${backendName}: the project's BatchNorm statistics and gradient kernels equal tf.moments and the closed form in TF.js ops`, async () => {
    await selectBackend(backendName);
    for (const shape of [[6, 5, 4, 3], [16, 7], [2, 9, 9, 1], [32, 14, 14, 8], [3, 2, 2, 33]]) {
      tf.tidy(() => {
        const channels = shape[shape.length - 1];
        const axes = shape.slice(0, -1).map((_, axis) => axis);
        const epsilon = 1e-3;
        const x = tf.randomNormal(shape, 5, 2, 'float32', 11);
        const dy = tf.randomNormal(shape, 0, 1, 'float32', 12);
        const gamma = tf.randomNormal([channels], 1, 0.5, 'float32', 13);
        const [mean, variance] = tf.engine().runKernel(CHANNEL_MOMENTS, { x }) as tf.Tensor[];
        const expected = tf.moments(x, axes);
        assert.ok(relativeError(mean, expected.mean) <= TOLERANCE, `${shape}: mean`);
        assert.ok(relativeError(variance, expected.variance) <= TOLERANCE, `${shape}: variance`);

        const [dx, dGamma, dBeta] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, { x, dy, gamma, mean, variance }, { epsilon }) as tf.Tensor[];
        const count = x.size / channels;
        const inverseStd = tf.rsqrt(tf.add(variance, epsilon));
        const normalized = tf.mul(tf.sub(x, mean), inverseStd);
        const expectedBeta = tf.sum(dy, axes);
        const expectedGamma = tf.sum(tf.mul(dy, normalized), axes);
        const expectedDx = tf.mul(tf.mul(gamma, inverseStd), tf.sub(tf.sub(dy, tf.div(expectedBeta, count)), tf.div(tf.mul(normalized, expectedGamma), count)));
        assert.ok(relativeError(dBeta, expectedBeta) <= TOLERANCE, `${shape}: dβ`);
        assert.ok(relativeError(dGamma, expectedGamma) <= TOLERANCE, `${shape}: dγ`);
        assert.ok(relativeError(dx, expectedDx) <= TOLERANCE, `${shape}: dx`);
      });
    }
  });
}

for (const backendName of ['wasm', 'cpu'] as const) {
  test(`${backendName}: the batch statistics stay exact in float64 terms when |mean| ≫ σ, at batch 1 and 32`, async () => {
    await selectBackend(backendName);
    for (const shape of [[32, 28, 28, 8], [1, 28, 28, 8], [1, 1, 1, 4]]) {
      tf.tidy(() => {
        const channels = shape[shape.length - 1];
        // σ = 1e-3 around 1000 (float32 spacing there is 6e-5): Σx² − n·x̄² would cancel to noise.
        const x = tf.randomNormal(shape, 1000, 1e-3, 'float32', 21);
        const values = x.dataSync();
        const [mean, variance] = tf.engine().runKernel(CHANNEL_MOMENTS, { x }) as tf.Tensor[];
        const count = values.length / channels;
        const expectedMean = new Float64Array(channels);
        const expectedVariance = new Float64Array(channels);
        for (let i = 0; i < values.length; i++) expectedMean[i % channels] += values[i] / count;
        for (let i = 0; i < values.length; i++) expectedVariance[i % channels] += (values[i] - expectedMean[i % channels]) ** 2 / count;
        assert.ok(relativeError(mean, expectedMean) <= 1e-7, `${shape}: mean`);
        const varianceValues = variance.dataSync();
        for (let c = 0; c < channels; c++) {
          const err = Math.abs(varianceValues[c] - expectedVariance[c]) / Math.max(expectedVariance[c], 1e-30);
          if (count === 1) assert.equal(varianceValues[c], 0, `${shape}: variance of one value`);
          else assert.ok(err <= 1e-4, `${shape}: variance of channel ${c} off by ${err} relative`);
        }
      });
    }
  });
}

test('a training step with BatchNormalization leaks no tensors', async () => {
  await selectBackend('wasm');
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same', useBias: false }),
      tf.layers.batchNormalization({}),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ],
  });
  const x = tf.randomNormal([4, 8, 8, 2], 0, 1, 'float32', 3);
  const labels = tf.tensor2d([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]);
  const optimizer = tf.train.sgd(0.1);
  const step = () => optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
  step();
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < 20; i++) step();
  assert.equal(tf.memory().numTensors, tensors);
  model.dispose();
  optimizer.dispose();
  tf.dispose([x, labels]);
});
