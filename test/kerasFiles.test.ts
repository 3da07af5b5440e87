import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { unzipSync, zipSync } from 'fflate';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../src/engine/errors';
import { loadModelFile, type LoadedModel } from '../src/engine/model/load';
import { snakeCase } from '../src/engine/model/kerasFiles';
import type { Report } from '../src/shared/report';
import { runCli } from './cliHarness';
import { locateModel } from '../src/shared/locator';
import { writeFixedKerasCopy } from '../src/engine/model/fixedCopy';
import { planFixes } from '../src/shared/fixes/index';

// Fixtures written by real Keras 3 (scripts/make-keras-fixtures.py): each model trained a few
// steps, saved as .keras and .h5, with an input and Keras' own prediction for it.
const root = path.resolve(__dirname, '../..');
const FIXTURES = path.join(root, 'test/fixtures/keras');
const MODELS = ['vanishing_sequential', 'vanishing_functional', 'small_bn', 'nested'];

tf.setBackend('cpu');

interface Expected {
  keras_version: string;
  input: number[];
  prediction: number[][];
  weights: Record<string, Array<{ shape: number[]; sum: number; first: number }>>;
}

function expected(name: string): Expected {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8')) as Expected;
}

async function withLoaded<T>(file: string, use: (loaded: LoadedModel) => T | Promise<T>, options: Parameters<typeof loadModelFile>[1] = {}): Promise<T> {
  const loaded = await loadModelFile(file, { seed: 1, ...options });
  try {
    return await use(loaded);
  } finally {
    loaded.model.dispose();
  }
}

function maxDifference(a: number[][], b: number[][]): number {
  let worst = 0;
  a.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[i][j])))));
  return worst;
}

function predict(loaded: LoadedModel, input: number[]): number[][] {
  return tf.tidy(() => (loaded.model.predict(tf.tensor(input)) as tf.Tensor).arraySync() as number[][]);
}

for (const name of MODELS) {
  for (const ext of ['keras', 'h5'] as const) {
    test(`${name}.${ext} (written by Keras): TF.js predicts what Keras predicted within 1e-5, from the file's trained weights`, async () => {
      const want = expected(name);
      await withLoaded(path.join(FIXTURES, `${name}.${ext}`), (loaded) => {
        assert.equal(loaded.format, ext === 'keras' ? 'keras' : 'keras-h5');
        assert.equal(loaded.configFormat, 'keras3');
        assert.deepEqual(loaded.weightsSource, { kind: 'trained', file: path.join(FIXTURES, `${name}.${ext}`) });
        const difference = maxDifference(predict(loaded, want.input), want.prediction);
        assert.ok(difference < 1e-5, `max |TF.js − Keras| = ${difference}`);
      });
    });

    test(`${name}.${ext}: every weight lands in its layer (sum and first value per weight, as Keras had them)`, async () => {
      const want = expected(name);
      await withLoaded(path.join(FIXTURES, `${name}.${ext}`), (loaded) => {
        let checked = 0;
        for (const [layerName, weights] of Object.entries(want.weights)) {
          if (weights.length === 0) continue;
          const layer = loaded.model.getLayer(layerName);
          const got = layer.getWeights().map((w) => ({ shape: w.shape, sum: w.sum().arraySync() as number, first: w.dataSync()[0] }));
          // A nested model lists its weights per layer in Keras, trainable-then-not in TF.js: compare as sets.
          const key = (w: { shape: number[]; sum: number }) => `${w.shape.join('x')}:${w.sum.toFixed(3)}`;
          assert.deepEqual(got.map(key).sort(), weights.map(key).sort(), `layer ${layerName}`);
          for (const w of weights) {
            const match = got.find((g) => key(g) === key(w));
            assert.ok(match && Math.abs(match.first - w.first) < 1e-6, `layer ${layerName}: first value ${match?.first} vs Keras ${w.first}`);
            assert.ok(Math.abs(match!.sum - w.sum) <= 1e-4 * Math.max(1, Math.abs(w.sum)), `layer ${layerName}: sum ${match!.sum} vs Keras ${w.sum}`);
            checked++;
          }
        }
        assert.ok(checked >= 4, `only ${checked} weights compared`);
      });
    });
  }
}

test('--weights init starts from the config\'s initializers instead: the prediction is no longer Keras\'', async () => {
  const want = expected('vanishing_functional');
  await withLoaded(
    path.join(FIXTURES, 'vanishing_functional.keras'),
    (loaded) => {
      assert.deepEqual(loaded.weightsSource, { kind: 'init' });
      assert.equal(loaded.weightsLoaded, false);
      assert.ok(maxDifference(predict(loaded, want.input), want.prediction) > 1e-4);
    },
    { weights: 'init' },
  );
});

test('the training config comes from the file, the float32-stored learning rate read as the user wrote it', async () => {
  for (const file of ['vanishing_sequential.keras', 'vanishing_sequential.h5', 'small_bn.h5']) {
    await withLoaded(path.join(FIXTURES, file), (loaded) => {
      assert.equal(loaded.trainingConfig?.optimizer, 'adam', file);
      assert.equal(loaded.trainingConfig?.loss, 'sparse_categorical_crossentropy', file);
      assert.equal(loaded.trainingConfig?.learningRate, file.startsWith('small_bn') ? 0.01 : 0.001, file);
    });
  }
});

test('a nested Sequential in a functional model (the old "Graph disconnected … input_layer_1") builds from Keras 3 JSON too', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-keras-'));
  try {
    const config = unzipSync(readFileSync(path.join(FIXTURES, 'nested.keras')))['config.json'];
    const json = path.join(dir, 'nested.json');
    writeFileSync(json, config);
    await withLoaded(json, (loaded) => {
      assert.equal(loaded.format, 'keras3');
      assert.deepEqual(loaded.layers.map((l) => l.name), ['image', 'conv2d_24', 'block', 'max_pooling2d_5', 'flatten_2', 'predictions']);
      assert.deepEqual(loaded.model.outputs[0].shape, [null, 5]);
    });
    // The nested model's own layers are located too, each on its own config object.
    const text = new TextDecoder().decode(config);
    const located = locateModel(text);
    assert.deepEqual(
      located.nestedLayers.map((l) => [l.parent, l.name, l.className]),
      [
        ['block', 'input_layer_2', 'InputLayer'],
        ['block', 'conv2d_22', 'Conv2D'],
        ['block', 'batch_normalization_2', 'BatchNormalization'],
        ['block', 'conv2d_23', 'Conv2D'],
      ],
    );
    const lines = text.split('\n');
    const conv = located.nestedLayers[1];
    assert.match(lines[conv.nameRange!.start.line], /"name": ?"conv2d_22"/);
    assert.equal(conv.activation, 'relu');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Keras\' snake_case of class names, which .keras weight paths use', () => {
  assert.equal(snakeCase('Conv2D'), 'conv2d');
  assert.equal(snakeCase('MaxPooling2D'), 'max_pooling2d');
  assert.equal(snakeCase('BatchNormalization'), 'batch_normalization');
  assert.equal(snakeCase('GlobalAveragePooling2D'), 'global_average_pooling2d');
  assert.equal(snakeCase('InputLayer'), 'input_layer');
});

// ──── bad input ────

async function assertInputError(file: string, problem: RegExp): Promise<void> {
  await assert.rejects(loadModelFile(file), (error: unknown) => {
    assert.ok(error instanceof InputError, `not an InputError: ${String(error)}`);
    assert.ok(error.message.startsWith(`${file}: `), `does not name the file: ${error.message}`);
    assert.match(error.message, problem);
    return true;
  });
}

test('bad .keras / .h5 files: each refused with a message naming the file and the problem', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-keras-'));
  const write = (name: string, bytes: Uint8Array) => {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };
  try {
    const keras = readFileSync(path.join(FIXTURES, 'small_bn.keras'));
    const entries = unzipSync(keras);

    const { ['config.json']: _dropped, ...withoutConfig } = entries;
    await assertInputError(write('no-config.keras', zipSync(withoutConfig)), /zip archive but not a Keras \.keras file: it has no config\.json/);
    await assertInputError(write('truncated.keras', keras.subarray(0, Math.floor(keras.length / 2))), /not a readable zip archive \(corrupted or truncated/);

    const h5 = readFileSync(path.join(FIXTURES, 'small_bn.h5'));
    await assertInputError(write('truncated.h5', h5.subarray(0, 4000)), /is a truncated HDF5 file: 4000 bytes of the \d+ its header declares/);
    // Cut exactly where the header says the file ends would pass that check: garbage in the middle instead.
    const garbled = Buffer.from(h5);
    garbled.fill(0xff, 96, 2048);
    await assertInputError(write('garbled.h5', garbled), /corrupted or truncated HDF5|cannot be read|not valid JSON|no "model_config"/);
    // The zip is intact but the HDF5 inside it is cut short.
    const cut = zipSync({ ...entries, 'model.weights.h5': entries['model.weights.h5'].subarray(0, 3000) });
    await assertInputError(write('cut-weights.keras', cut), /model\.weights\.h5 inside it is a truncated HDF5 file: 3000 bytes of the \d+/);

    // Another model's weights under this config: shapes (and layers) do not match.
    const otherWeights = unzipSync(readFileSync(path.join(FIXTURES, 'nested.keras')))['model.weights.h5'];
    await assertInputError(write('mismatch.keras', zipSync({ ...entries, 'model.weights.h5': otherWeights })), /the weights do not match the model config: .*(layer|weight)/);

    // A legacy .h5 whose config was renamed: its weights name layers the config lacks.
    await assertInputError(path.join(FIXTURES, 'weights_only.h5'), /holds weights only, no model config .*save_weights\(\).*model\.save\("model\.keras"\)/);
    await assertInputError(path.join(FIXTURES, 'gru.keras'), /layer "gru" is a GRU with reset_after=True \(Keras. default\), which TF.js does not implement; build it with GRU\(\.\.\., reset_after=False\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ──── a whole run on the real-Keras files ────

for (const file of ['vanishing_sequential.keras', 'vanishing_functional.h5']) {
  test(`analyze ${file}: vanishing-gradient at the first conv from the trained weights; --verify-fixes measures the fix on the config in memory`, { timeout: 300_000 }, () => {
    const run = runCli(['analyze', path.join(FIXTURES, file), '--steps', '40', '--backend', 'wasm', '--verify-fixes', '--format', 'json'], 300_000);
    assert.equal(run.status, 1, run.stderr);
    const report = JSON.parse(run.stdout) as Report;
    assert.equal(report.model.format, file.endsWith('.h5') ? 'keras-h5' : 'keras');
    assert.deepEqual(report.model.weights, { kind: 'trained', file: path.join(FIXTURES, file) });
    const vanishing = report.findings.find((f) => f.code === 'vanishing-gradient');
    assert.equal(vanishing?.layer, file.startsWith('vanishing_sequential') ? 'conv2d' : 'conv2d_10');
    // Trained weights: an initializer edit would change nothing this run starts from.
    assert.ok(!vanishing!.fixes.some((f) => f.code === 'change-initializer'), JSON.stringify(vanishing!.fixes.map((f) => f.code)));
    const verification = report.verifications?.find((v) => v.findingCode === 'vanishing-gradient');
    assert.ok(verification && !verification.error, JSON.stringify(report.verifications));
    assert.ok(verification.after.firstLastRatio > 1000 * verification.before.firstLastRatio, JSON.stringify(verification));
    assert.ok(!verification.remaining.includes('vanishing-gradient'));
  });
}

test('a fix written out as model.fixed.keras beside the file: edited config, same weights, the original untouched; a layer-adding fix is refused', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-keras-'));
  try {
    const file = path.join(dir, 'model.keras');
    const original = readFileSync(path.join(FIXTURES, 'vanishing_sequential.keras'));
    writeFileSync(file, original);
    const loaded = await loadModelFile(file, { seed: 1 });
    const kernel = loaded.model.getLayer('conv2d_3').getWeights()[0].dataSync().slice();
    const ctx = { text: loaded.text, format: loaded.configFormat!, layers: loaded.layers, options: { steps: 1, batchSize: 1, learningRate: 0.001, optimizer: 'adam' as const, loss: 'sparse_categorical_crossentropy', data: 'synthetic', seed: 1, backend: 'cpu' }, trainedWeights: true };
    loaded.model.dispose();
    const fixes = planFixes({ code: 'vanishing-gradient', severity: 'error', layer: 'conv2d', message: '', evidence: {}, fixes: [] }, ctx);
    const relu = fixes.find((f) => f.code === 'use-relu')!;
    const written = writeFixedKerasCopy(file, relu);
    assert.equal(written, path.join(dir, 'model.fixed.keras'));
    assert.deepEqual(readFileSync(file), original, 'the user\'s file is not written');
    await withLoaded(written, (copy) => {
      assert.deepEqual(copy.layers.filter((l) => l.className === 'Conv2D').map((l) => l.activation), Array(10).fill('relu'));
      assert.deepEqual(copy.model.getLayer('conv2d_3').getWeights()[0].dataSync(), kernel);
    });
    const batchNorm = fixes.find((f) => f.code === 'add-batch-normalization')!;
    assert.throws(() => writeFixedKerasCopy(file, batchNorm), /adds or removes layers/);
    assert.throws(() => writeFixedKerasCopy(path.join(FIXTURES, 'small_bn.h5'), relu), /for \.keras files only/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
