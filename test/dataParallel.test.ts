import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';
import { createTrainer } from '../src/engine/train/dataParallel';
import { seededRandom } from '../src/engine/train/random';
import { Trainer, type TrainerOptions } from '../src/engine/train/trainer';
import { referenceNetwork } from '../src/engine/reference/networks';
import { relativeError } from './relativeError';

const ready = selectBackend('wasm');

const ADAM: TrainerOptions = { optimizer: 'adam', learningRate: 1e-3, loss: 'categorical_crossentropy', seed: 1 };

/** conv-pool-conv-dense on 12×12 inputs, with or without BatchNormalization after each conv; the same weights for a seed. */
function smallNet(seed: number, batchNorm: boolean): tf.LayersModel {
  let next = 0;
  const kernelInitializer = () => tf.initializers.glorotUniform({ seed: seed * 100 + next++ });
  const layers: tf.layers.Layer[] = [];
  const conv = (name: string, extra: { inputShape?: number[] }) => {
    layers.push(tf.layers.conv2d({ name, filters: 6, kernelSize: 3, padding: 'same', activation: batchNorm ? 'linear' : 'relu', useBias: !batchNorm, kernelInitializer: kernelInitializer(), ...extra }));
    if (batchNorm) {
      layers.push(tf.layers.batchNormalization({ name: `${name}_bn` }));
      layers.push(tf.layers.reLU({ name: `${name}_relu` }));
    }
  };
  conv('conv1', { inputShape: [12, 12, 1] });
  layers.push(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }));
  conv('conv2', {});
  layers.push(tf.layers.flatten({ name: 'flatten' }));
  layers.push(tf.layers.dense({ name: 'head', units: 10, kernelInitializer: kernelInitializer() }));
  return tf.sequential({ layers });
}

function batch(seed: number, size: number, shape: number[]): { x: tf.Tensor; y: tf.Tensor } {
  const random = seededRandom(seed);
  const perExample = shape.reduce((n, d) => n * d, 1);
  const x = tf.tensor(Array.from({ length: size * perExample }, () => random() * 2 - 1), [size, ...shape]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: size }, () => Math.floor(random() * 10)), 'int32'), 10).toFloat());
  return { x, y };
}

async function parallelPair(build: () => tf.LayersModel, options: TrainerOptions, batchSize: number, extra: Parameters<typeof createTrainer>[2] extends infer S ? Partial<S> : never = {}) {
  await ready;
  const single = new Trainer(build(), options);
  const { trainer, decision } = await createTrainer(build(), options, { batchSize, threads: 2, measure: false, ...extra });
  assert.equal(decision.threads, 2, decision.reason);
  return { single, parallel: trainer };
}

for (const [name, build, shape] of [
  ['a conv net without BatchNorm', () => smallNet(3, false), [12, 12, 1]],
  ['a conv net with BatchNorm', () => smallNet(3, true), [12, 12, 1]],
  ['the 10-conv ReLU + BatchNorm reference net', () => referenceNetwork('relu-bn-10conv').build(5), [28, 28, 1]],
] as const) {
  test(`data-parallel gradients equal one thread's within 1e-5 relative: ${name}`, async () => {
    const { single, parallel } = await parallelPair(build, ADAM, 32);
    try {
      // 31 rows: the two replicas get unequal shares (16 and 15), so the weighting by share matters.
      for (const rows of [32, 31]) {
        const { x, y } = batch(rows, rows, [...shape]);
        const expected = single.gradientsOnly(x, y);
        const actual = parallel.parallelGradientsOnly(x, y);
        assert.equal(actual.length, expected.length);
        actual.forEach((gradient, i) => {
          const error = relativeError(gradient, expected[i]);
          assert.ok(error <= 1e-5, `gradient ${i} (${single.model.trainableWeights[i]?.name}) of a batch of ${rows}: relative error ${error}`);
        });
        tf.dispose([x, y]);
      }
    } finally {
      single.dispose();
      parallel.dispose();
    }
  });
}

test('after 100 steps every replica holds bit-identical weights (a rate change and a setWeights on the way)', async () => {
  await ready;
  const { trainer, decision } = await createTrainer(smallNet(4, true), ADAM, { batchSize: 16, threads: 2, measure: false });
  assert.equal(decision.threads, 2, decision.reason);
  try {
    for (let step = 0; step < 100; step++) {
      const { x, y } = batch(1000 + step, 16, [12, 12, 1]);
      if (step % 3 === 0) trainer.stepInstrumented(x, y, step);
      else trainer.stepPlain(x, y);
      if (step === 40) trainer.setLearningRate(3e-3);
      if (step === 60) trainer.model.setWeights(trainer.model.getWeights().map((w) => tf.mul(w, 0.5)));
      tf.dispose([x, y]);
    }
    const [first, second] = trainer.gatherReplicaWeights();
    assert.equal(first.length, second.length);
    let differing = 0;
    for (let i = 0; i < first.length; i++) if (!Object.is(first[i], second[i])) differing++;
    assert.equal(differing, 0, `${differing} of ${first.length} weights differ between the replicas`);
    // The moving statistics are part of the weights and moved away from their start.
    const movingVariance = trainer.model.getLayer('conv1_bn').getWeights()[3].dataSync();
    assert.ok(movingVariance.some((v) => Math.abs(v - 1) > 1e-3));
  } finally {
    trainer.dispose();
  }
});

test('instrumented figures of a data-parallel step equal one thread\'s (activations over the whole batch)', async () => {
  const sgd: TrainerOptions = { ...ADAM, optimizer: 'sgd', learningRate: 0.05 };
  const { single, parallel } = await parallelPair(() => smallNet(6, true), sgd, 32);
  try {
    for (let step = 0; step < 3; step++) {
      const { x, y } = batch(50 + step, 32, [12, 12, 1]);
      const expected = single.stepInstrumented(x, y, step);
      const actual = parallel.stepInstrumented(x, y, step);
      tf.dispose([x, y]);
      assert.equal(actual.step, expected.step);
      assert.equal(actual.accuracy, expected.accuracy);
      assert.ok(Math.abs(actual.loss - expected.loss) <= 1e-5 * Math.abs(expected.loss), `loss ${actual.loss} vs ${expected.loss}`);
      assert.deepEqual(actual.layers.map((l) => l.layer), expected.layers.map((l) => l.layer));
      actual.layers.forEach((layer, i) => {
        const reference = expected.layers[i] as unknown as Record<string, unknown>;
        for (const [key, value] of Object.entries(layer)) {
          if (typeof value !== 'number') continue;
          const wanted = reference[key] as number;
          // Figures near zero (a mean of ±1e-9) are compared on the layer's own scale.
          const tolerance = 1e-5 * Math.max(Math.abs(wanted), key.startsWith('activationMean') ? 1e-2 : 1e-6);
          assert.ok(Math.abs(value - wanted) <= tolerance, `step ${step}, ${layer.layer}.${key}: ${value} vs ${wanted}`);
        }
        assert.deepEqual(Object.keys(layer).sort(), Object.keys(reference).sort());
      });
    }
  } finally {
    single.dispose();
    parallel.dispose();
  }
});

test('a tiny net falls back to one thread after the start-up measurement, a too small batch without starting threads', async () => {
  await ready;
  const tiny = () =>
    tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [5, 5, 1], filters: 2, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
  const measured = await createTrainer(tiny(), ADAM, { batchSize: 8, threads: 2 });
  try {
    assert.equal(measured.decision.threads, 1, measured.decision.reason);
    assert.match(measured.decision.reason, /did not pay/);
    assert.ok(measured.decision.singleMs! > 0 && measured.decision.parallelMs! > 0);
    assert.equal(measured.trainer.threads, 1);
    // Still trains, alone, from the weights it had before the measurement.
    const { x, y } = batch(9, 8, [5, 5, 1]);
    assert.ok(Number.isFinite(measured.trainer.stepPlain(x, y)));
    tf.dispose([x, y]);
  } finally {
    measured.trainer.dispose();
  }
  const small = await createTrainer(tiny(), ADAM, { batchSize: 6, threads: 2 });
  assert.equal(small.decision.threads, 1);
  assert.match(small.decision.reason, /too small to split/);
  small.trainer.dispose();
});

for (const kind of ['throw', 'exit'] as const) {
  test(`a replica worker that ${kind === 'throw' ? 'throws' : 'exits'} mid-run gives a clear error, not a hang`, async () => {
    await ready;
    const { trainer, decision } = await createTrainer(smallNet(7, true), ADAM, { batchSize: 16, threads: 2, measure: false, timeoutMs: 20_000, fault: { rank: 1, step: 2, kind } });
    assert.equal(decision.threads, 2, decision.reason);
    const { x, y } = batch(3, 16, [12, 12, 1]);
    try {
      trainer.stepPlain(x, y);
      trainer.stepPlain(x, y);
      const started = Date.now();
      const expected = kind === 'throw' ? /replica 1 \(a worker thread\) failed: fault injected at step 2/ : /replica 1 \(a worker thread\) failed: its thread exited with code 3/;
      assert.throws(() => trainer.stepPlain(x, y), expected);
      assert.ok(Date.now() - started < 10_000, 'the failure was reported by the worker, not by the barrier timeout');
      // The group stays failed: later steps say so at once.
      assert.throws(() => trainer.stepInstrumented(x, y, 3), expected);
    } finally {
      tf.dispose([x, y]);
      trainer.dispose();
    }
  });
}

test('the process exits by itself after a data-parallel run, disposed or not; the worker thread keeps the lowered priority', () => {
  const engine = path.join(__dirname, '..', 'src', 'engine');
  for (const dispose of [true, false]) {
    const script = `
      const tf = require('@tensorflow/tfjs');
      const { selectBackend } = require(${JSON.stringify(path.join(engine, 'backend'))});
      const { createTrainer } = require(${JSON.stringify(path.join(engine, 'train', 'dataParallel'))});
      const { referenceNetwork } = require(${JSON.stringify(path.join(engine, 'reference', 'networks'))});
      const fs = require('node:fs');
      const niceOf = (tid) => { const stat = fs.readFileSync('/proc/self/task/' + tid + '/stat', 'utf8'); return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); };
      (async () => {
        // As the runner lowers a background engine (processPriority.ts); nice values are per thread on Linux.
        require('node:os').setPriority(process.pid, 7);
        const before = new Set(fs.readdirSync('/proc/self/task'));
        await selectBackend('wasm');
        const { trainer, decision } = await createTrainer(referenceNetwork('small-cnn').build(1), { optimizer: 'adam', learningRate: 1e-3, loss: 'categorical_crossentropy', seed: 1 }, { batchSize: 16, threads: 2, measure: false });
        const x = tf.randomNormal([16, 28, 28, 1]);
        const y = tf.oneHot(tf.zeros([16], 'int32'), 10).toFloat();
        for (let step = 0; step < 3; step++) trainer.stepInstrumented(x, y, step);
        console.log('threads', decision.threads);
        if (fs.existsSync('/proc/self/task')) {
          const started = fs.readdirSync('/proc/self/task').filter((tid) => !before.has(tid));
          console.log('new thread nices', started.map(niceOf).join(','));
        }
        ${dispose ? 'trainer.dispose();' : ''}
      })();`;
    const run = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.error, undefined, `dispose ${dispose}: ${run.error?.message}`);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /threads 2/);
    // The replica's thread (and any other the run started) runs at the engine's lowered priority.
    const nices = /new thread nices ([\d,-]*)/.exec(run.stdout);
    if (nices) assert.ok(nices[1].length > 0 && nices[1].split(',').every((nice) => nice === '7'), nices[0]);
  }
});

test('the CLI with GRADIENT_LENS_THREADS=2 reports what one thread does on the BatchNorm sample, and exits', () => {
  const repoRoot = path.join(__dirname, '..', '..');
  const analyze = (env: Record<string, string>) => {
    const run = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'cli.js'), 'analyze', 'samples/healthy-relu-bn-10conv/keras2.json', '--steps', '12', '--backend', 'wasm', '--format', 'json'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 180_000,
      env: { ...process.env, GRADIENT_LENS_DEBUG: '1', ...env },
    });
    assert.equal(run.error, undefined, run.error?.message);
    return { status: run.status, stderr: run.stderr, report: JSON.parse(run.stdout) as { history: { loss: number[] }; findings: Array<{ code: string }> } };
  };
  const single = analyze({ GRADIENT_LENS_THREADS: '' });
  const parallel = analyze({ GRADIENT_LENS_THREADS: '2', GRADIENT_LENS_THREADS_MEASURE: 'off' });
  assert.match(parallel.stderr, /training on 2 threads \(data-parallel/);
  assert.doesNotMatch(single.stderr, /training on/);
  assert.equal(parallel.status, single.status);
  assert.deepEqual(parallel.report.findings.map((f) => f.code), single.report.findings.map((f) => f.code));
  assert.equal(parallel.report.history.loss.length, 12);
  // The first step's loss agrees to float rounding; Adam then amplifies the gradients'
  // last-digit differences (it divides by their running size), so later steps drift apart a little.
  parallel.report.history.loss.forEach((loss, step) => {
    const expected = single.report.history.loss[step];
    const tolerance = step === 0 ? 1e-5 : 2e-3;
    assert.ok(Math.abs(loss - expected) <= tolerance * Math.abs(expected), `step ${step}: loss ${loss} vs ${expected}`);
  });
});

test('BatchNorm layers of a loaded Keras model (axis written as [3]) train through the project\'s closed-form path', async () => {
  await ready;
  const { loadModelFile } = await import('../src/engine/model/load');
  const loaded = await loadModelFile(path.join(__dirname, '..', '..', 'samples', 'healthy-relu-bn-10conv', 'keras2.json'), { seed: 1 });
  const batchNorm = loaded.model.layers.find((layer) => layer.getClassName() === 'BatchNormalization') as unknown as { axis: unknown };
  assert.deepEqual(batchNorm.axis, [3]);
  const x = tf.randomNormal([4, ...loaded.inputShape]);
  const profile = await tf.profile(() => tf.dispose(loaded.model.apply(x, { training: true }) as tf.Tensor));
  assert.ok(profile.kernelNames.includes('GradientLensChannelMoments'), profile.kernelNames.join(', '));
  tf.dispose(x);
});
