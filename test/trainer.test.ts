import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Trainer } from '../src/engine/train/trainer';
import { seededRandom } from '../src/engine/train/random';
import { selectBackend } from '../src/engine/backend';

tf.setBackend('cpu');

interface TinyNetOptions {
  hiddenActivation?: string;
  outputActivation?: string;
  kernelInitializer?: ReturnType<typeof tf.initializers.randomNormal>;
  seed?: number;
}

/** conv(3×3, 2 filters) → flatten → dense(3): small enough for finite differences and 500-step loops. */
function tinyConvNet(opts: TinyNetOptions = {}): tf.LayersModel {
  const kernelInitializer = opts.kernelInitializer ?? tf.initializers.glorotUniform({ seed: opts.seed ?? 1 });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'conv', inputShape: [5, 5, 1], filters: 2, kernelSize: 3, activation: (opts.hiddenActivation ?? 'relu') as 'relu', kernelInitializer }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ name: 'head', units: 3, activation: (opts.outputActivation ?? 'softmax') as 'softmax', kernelInitializer }),
    ],
  });
}

function batch(seed: number, size = 4): { x: tf.Tensor; y: tf.Tensor } {
  const random = seededRandom(seed);
  const x = tf.tensor4d(Array.from({ length: size * 25 }, () => random() * 2 - 1), [size, 5, 5, 1]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: size }, (_, i) => i % 3), 'int32'), 3).toFloat();
  return { x, y };
}

function crossEntropy(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => {
    const probabilities = model.predict(x) as tf.Tensor;
    return -tf.mean(tf.sum(tf.mul(y, tf.log(probabilities)), -1)).dataSync()[0];
  });
}

test('kernel gradient figures match central finite differences of the loss', () => {
  const model = tinyConvNet({ hiddenActivation: 'tanh', seed: 7 });
  const { x, y } = batch(1);
  const kernel = model.getLayer('conv').getWeights()[0];
  const values = Array.from(kernel.dataSync());
  const epsilon = 1e-2;
  const numeric = values.map((_, i) => {
    const shifted = (delta: number) => {
      const copy = values.slice();
      copy[i] += delta;
      model.getLayer('conv').setWeights([tf.tensor(copy, kernel.shape), model.getLayer('conv').getWeights()[1]]);
      return crossEntropy(model, x, y);
    };
    return (shifted(epsilon) - shifted(-epsilon)) / (2 * epsilon);
  });
  model.getLayer('conv').setWeights([tf.tensor(values, kernel.shape), model.getLayer('conv').getWeights()[1]]);

  const trainer = new Trainer(model, { optimizer: 'sgd', learningRate: 0.1, loss: 'categorical_crossentropy', seed: 1 });
  const conv = trainer.stepInstrumented(x, y, 0).layers.find((l) => l.layer === 'conv')!;
  trainer.dispose();
  const l2 = Math.sqrt(numeric.reduce((sum, g) => sum + g * g, 0));
  const meanAbs = numeric.reduce((sum, g) => sum + Math.abs(g), 0) / numeric.length;
  const maxAbs = Math.max(...numeric.map(Math.abs));
  assert.ok(Math.abs(conv.gradL2 - l2) / l2 < 0.02, `L2 ${conv.gradL2} vs numeric ${l2}`);
  assert.ok(Math.abs(conv.gradMeanAbs - meanAbs) / meanAbs < 0.02, `mean |g| ${conv.gradMeanAbs} vs ${meanAbs}`);
  assert.ok(Math.abs(conv.gradMaxAbs - maxAbs) / maxAbs < 0.02, `max |g| ${conv.gradMaxAbs} vs ${maxAbs}`);
  assert.ok(Math.abs(conv.gradRms - conv.gradL2 / Math.sqrt(values.length)) < 1e-6 * conv.gradL2);
});

test('statistics are in range and name every kernel layer', () => {
  const model = tinyConvNet({ seed: 3 });
  const trainer = new Trainer(model, { optimizer: 'adam', learningRate: 0.01, loss: 'CategoricalCrossentropy', seed: 3 });
  assert.deepEqual(trainer.instrumentedLayers, ['conv', 'head']);
  const { x, y } = batch(2, 8);
  const stats = trainer.stepInstrumented(x, y, 0);
  trainer.dispose();
  assert.ok(stats.loss > 0 && Number.isFinite(stats.loss));
  assert.ok(stats.accuracy! >= 0 && stats.accuracy! <= 1);
  for (const layer of stats.layers) {
    assert.ok(layer.gradL2 > 0 && layer.gradMaxAbs >= layer.gradMeanAbs);
    assert.ok(layer.gradZeroFraction >= 0 && layer.gradZeroFraction <= 1);
    assert.equal(layer.gradNonFinite, 0);
    assert.ok(layer.weightL2 > 0);
    // Adam's first step moves each weight by about the learning rate.
    assert.ok(layer.updateRatio > 0 && layer.updateRatio < 1, `update ratio ${layer.updateRatio}`);
    assert.ok(layer.activationStd! >= 0);
  }
  const conv = stats.layers[0];
  assert.ok(conv.deadFraction! >= 0 && conv.deadFraction! <= 1);
  assert.ok(conv.activationMean! >= 0, 'ReLU outputs are never negative');
  assert.equal(conv.saturatedFraction, undefined);
});

test('an instrumented step reads the device once', () => {
  const model = tinyConvNet({ hiddenActivation: 'sigmoid' });
  const trainer = new Trainer(model, { optimizer: 'sgd', learningRate: 0.01, loss: 'categorical_crossentropy', seed: 1 });
  const { x, y } = batch(3);
  trainer.stepInstrumented(x, y, 0);
  const prototype = tf.Tensor.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const reads = ['dataSync', 'data', 'arraySync', 'array'];
  const originals = reads.map((name) => prototype[name]);
  let count = 0;
  reads.forEach((name, i) => {
    prototype[name] = function (this: unknown, ...args: unknown[]) {
      count++;
      return originals[i].apply(this, args);
    };
  });
  try {
    const stats = trainer.stepInstrumented(x, y, 1);
    assert.equal(count, 1);
    assert.ok(stats.layers[0].saturatedFraction! >= 0);
  } finally {
    reads.forEach((name, i) => (prototype[name] = originals[i]));
    trainer.dispose();
  }
});

test('tensor count stays flat over 500 steps', () => {
  const model = tinyConvNet();
  const trainer = new Trainer(model, { optimizer: 'adam', learningRate: 0.01, loss: 'categorical_crossentropy', clipNorm: 1, seed: 1 });
  const { x, y } = batch(4);
  trainer.stepInstrumented(x, y, 0);
  trainer.stepPlain(x, y);
  const after = tf.memory().numTensors;
  for (let step = 1; step <= 500; step++) {
    if (step % 2) trainer.stepInstrumented(x, y, step);
    else trainer.stepPlain(x, y);
  }
  assert.equal(tf.memory().numTensors, after);
  trainer.dispose();
});

test('weight and update figures follow the kernels, whoever changed them between instrumented steps', () => {
  const { x, y } = batch(9);
  for (const optimizer of ['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad', 'adadelta', 'adamax'] as const) {
    const model = tinyConvNet({ seed: 13 });
    const trainer = new Trainer(model, { optimizer, learningRate: optimizer === 'adadelta' ? 1 : 0.05, loss: 'categorical_crossentropy', seed: 13 });
    const conv = model.getLayer('conv');
    const kernel = () => Float64Array.from(conv.getWeights()[0].dataSync());
    const norm = (values: Float64Array) => Math.sqrt(values.reduce((sum, v) => sum + v * v, 0));
    const stepAndCheck = (step: number) => {
      const before = kernel();
      const figures = trainer.stepInstrumented(x, y, step).layers[0];
      const after = kernel();
      const weightL2 = norm(before);
      const updateRatio = norm(after.map((v, i) => v - before[i])) / weightL2;
      assert.ok(Math.abs(figures.weightL2 - weightL2) < 1e-6 * weightL2, `${optimizer} step ${step}: weight L2 ${figures.weightL2} vs ${weightL2}`);
      assert.ok(Math.abs(figures.updateRatio - updateRatio) < 1e-4 * updateRatio, `${optimizer} step ${step}: update ratio ${figures.updateRatio} vs ${updateRatio}`);
    };

    stepAndCheck(0);
    stepAndCheck(1);
    trainer.stepPlain(x, y);
    stepAndCheck(2);
    const [weights, bias] = conv.getWeights();
    const tripled = tf.mul(weights, 3);
    conv.setWeights([tripled, bias]);
    tripled.dispose();
    stepAndCheck(3);
    stepAndCheck(4);
    trainer.dispose();
  }
});

test('the same seed gives identical statistics', () => {
  const run = () => {
    const model = tinyConvNet({ seed: 11 });
    const trainer = new Trainer(model, { optimizer: 'momentum', learningRate: 0.05, loss: 'categorical_crossentropy', seed: 11 });
    const history = [0, 1, 2].map((step) => {
      const { x, y } = batch(20 + step);
      return trainer.stepInstrumented(x, y, step);
    });
    trainer.dispose();
    return history;
  };
  const first = run();
  assert.deepEqual(run(), first);
});

test('softmax output with an exploding init still shows gradients (loss from logits)', () => {
  const model = tinyConvNet({ kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 30, seed: 5 }) });
  const { x, y } = batch(6);
  const trainer = new Trainer(model, { optimizer: 'sgd', learningRate: 0.01, loss: 'categorical_crossentropy', seed: 1 });
  const stats = trainer.stepInstrumented(x, y, 0);
  trainer.dispose();
  assert.ok(stats.loss > 10, `loss ${stats.loss}`);
  for (const layer of stats.layers) {
    assert.ok(layer.gradL2 > 1, `${layer.layer} gradient L2 ${layer.gradL2}`);
    assert.ok(layer.gradZeroFraction < 1);
  }
  // The model itself still ends in softmax once the trainer is gone.
  const sums = tf.sum(model.predict(x) as tf.Tensor, -1).dataSync();
  for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-4);
});

test('unknown loss names are refused with the known list', () => {
  assert.throws(() => new Trainer(tinyConvNet(), { optimizer: 'adam', learningRate: 0.001, loss: 'hinge_of_doom', seed: 1 }), /unknown loss "hinge_of_doom".*categorical_crossentropy/);
});

test('every optimizer and loss spelling trains with a finite, falling loss', () => {
  const { x, y } = batch(8, 6);
  const optimizers = ['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad', 'adadelta', 'adamax'] as const;
  const losses = ['categorical_crossentropy', 'sparseCategoricalCrossentropy', 'MeanSquaredError', 'mse', 'binary_crossentropy'];
  for (const optimizer of optimizers) {
    for (const loss of losses) {
      const outputActivation = loss === 'binary_crossentropy' ? 'sigmoid' : 'softmax';
      const model = tinyConvNet({ outputActivation, seed: 9 });
      const learningRate = optimizer === 'adadelta' ? 1 : optimizer === 'sgd' || optimizer === 'momentum' ? 0.1 : 0.01;
      const trainer = new Trainer(model, { optimizer, learningRate, loss, seed: 9 });
      const first = trainer.stepInstrumented(x, y, 0).loss;
      for (let step = 1; step < 15; step++) trainer.stepPlain(x, y);
      const last = trainer.stepInstrumented(x, y, 15).loss;
      trainer.dispose();
      assert.ok(Number.isFinite(first) && Number.isFinite(last), `${optimizer}/${loss}: ${first} → ${last}`);
      assert.ok(last < first, `${optimizer}/${loss}: loss ${first} → ${last}`);
    }
  }
});

test('on wasm the statistics, read through a reused buffer, match the cpu ones step after step', async () => {
  const run = () => {
    const model = tinyConvNet({ seed: 17 });
    const trainer = new Trainer(model, { optimizer: 'adam', learningRate: 0.01, loss: 'categorical_crossentropy', seed: 17 });
    const { x, y } = batch(10, 6);
    const history = [trainer.stepInstrumented(x, y, 0), trainer.stepInstrumented(x, y, 1)];
    trainer.stepPlain(x, y);
    history.push(trainer.stepInstrumented(x, y, 3), trainer.stepInstrumented(x, y, 4));
    trainer.dispose();
    tf.dispose([x, y]);
    return history;
  };
  const onCpu = run();
  await selectBackend('wasm');
  try {
    const onWasm = run();
    onCpu.forEach((cpuStep, i) => {
      const wasmStep = onWasm[i];
      const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-3 * Math.abs(b) + 1e-6, `step ${i} ${what}: wasm ${a}, cpu ${b}`);
      close(wasmStep.loss, cpuStep.loss, 'loss');
      assert.equal(wasmStep.accuracy, cpuStep.accuracy);
      cpuStep.layers.forEach((cpuLayer, j) => {
        const wasmLayer = wasmStep.layers[j] as unknown as Record<string, number | string>;
        for (const [field, value] of Object.entries(cpuLayer)) {
          if (typeof value === 'number') close(wasmLayer[field] as number, value, `${cpuLayer.layer}.${field}`);
          else assert.equal(wasmLayer[field], value);
        }
      });
    });
  } finally {
    await tf.setBackend('cpu');
  }
});
