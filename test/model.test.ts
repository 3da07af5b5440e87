import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../src/engine/errors';
import { loadModelFile, type LoadedModel } from '../src/engine/model/load';

const root = path.resolve(__dirname, '../..');
const SAMPLE_FILES = ['keras2.json', 'keras3.json', 'tfjs/model.json'];
/** Trainable parameters, counted by hand from the layer lists in scripts/make-samples.mjs. */
const SAMPLE_PARAMS: Record<string, number> = {
  // conv 1→8: 80; nine conv 8→8: 9 × 584; dense 7·7·8 → 10: 3930
  'vanishing-sigmoid-10conv': 80 + 9 * 584 + 3930,
  // the same plus ten BatchNormalization gammas and betas of 8 channels
  'healthy-relu-bn-10conv': 80 + 9 * 584 + 3930 + 10 * 16,
  'exploding-large-init': 80 + 9 * 584 + 3930,
  // conv 1→8 valid: 80; conv 8→16 valid: 1168; dense 5·5·16 → 10: 4010
  'healthy-small-cnn': 80 + 1168 + 4010,
};

tf.setBackend('cpu');

function fixture(relative: string): string {
  return path.join(root, relative);
}

async function withLoaded<T>(file: string, use: (loaded: LoadedModel) => T | Promise<T>, seed?: number): Promise<T> {
  const loaded = await loadModelFile(file, { seed });
  try {
    return await use(loaded);
  } finally {
    loaded.model.dispose();
  }
}

for (const [sample, params] of Object.entries(SAMPLE_PARAMS)) {
  test(`${sample}: Keras 2, Keras 3 and TF.js files load into the same model (${params} trainable parameters)`, async () => {
    const shapes = [];
    for (const file of SAMPLE_FILES) {
      const loaded = await loadModelFile(fixture(`samples/${sample}/${file}`));
      try {
        assert.equal(loaded.format, file.startsWith('tfjs') ? 'tfjs-layers' : file === 'keras3.json' ? 'keras3' : 'keras2');
        assert.equal(loaded.weightsLoaded, file.startsWith('tfjs'));
        assert.deepEqual(loaded.warnings, []);
        assert.deepEqual(loaded.inputShape, [28, 28, 1]);
        assert.equal(loaded.numClasses, 10);
        assert.equal(
          loaded.layers.reduce((sum, layer) => sum + (layer.paramCount ?? 0), 0),
          params,
        );
        assert.equal(loaded.model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0), params);
        shapes.push(loaded.layers.map((l) => ({ name: l.name, className: l.className, paramCount: l.paramCount, outputShape: l.outputShape, instrumented: l.instrumented })));
      } finally {
        loaded.model.dispose();
      }
    }
    assert.deepEqual(shapes[1], shapes[0]);
    assert.deepEqual(shapes[2], shapes[0]);
    const instrumented = shapes[0].filter((l) => l.instrumented).map((l) => l.className);
    assert.ok(instrumented.every((c) => ['Conv2D', 'Dense', 'BatchNormalization'].includes(c)));
    assert.equal(instrumented.filter((c) => c === 'Conv2D').length, sample === 'healthy-small-cnn' ? 2 : 10);
  });
}

test('training settings are read from the file in all three formats', async () => {
  for (const file of SAMPLE_FILES) {
    const exploding = await withLoaded(fixture(`samples/exploding-large-init/${file}`), (l) => l.trainingConfig);
    assert.equal(exploding?.optimizer, 'sgd', file);
    assert.equal(exploding?.learningRate, 0.01, file);
    const small = await withLoaded(fixture(`samples/healthy-small-cnn/${file}`), (l) => l.trainingConfig);
    assert.equal(small?.optimizer, 'adam', file);
    assert.equal(small?.learningRate, 0.001, file);
    assert.equal(await withLoaded(fixture(`samples/vanishing-sigmoid-10conv/${file}`), (l) => l.trainingConfig), undefined);
  }
});

test('TF.js weights round-trip exactly from weights.bin', async () => {
  const dir = fixture('samples/healthy-relu-bn-10conv/tfjs');
  const manifest = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')).weightsManifest[0];
  const bytes = readFileSync(path.join(dir, manifest.paths[0]));
  const stored = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  await withLoaded(path.join(dir, 'model.json'), (loaded) => {
    const byName = new Map(loaded.model.weights.map((w) => [w.originalName, w]));
    let offset = 0;
    for (const spec of manifest.weights as Array<{ name: string; shape: number[] }>) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const weight = byName.get(spec.name);
      assert.ok(weight, spec.name);
      assert.deepEqual(Array.from(weight.read().dataSync()), Array.from(stored.subarray(offset, offset + size)), spec.name);
      offset += size;
    }
    assert.equal(offset, stored.length);
    assert.equal(byName.size, manifest.weights.length);
  });
});

test('a seed makes Keras JSON start from the same weights; another seed from others', async () => {
  const file = fixture('samples/healthy-small-cnn/keras2.json');
  const kernel = (seed: number) => withLoaded(file, (l) => Array.from(l.model.getLayer('conv2d').getWeights()[0].dataSync()), seed);
  const first = await kernel(5);
  assert.deepEqual(await kernel(5), first);
  assert.notDeepEqual(await kernel(6), first);
});

test('Functional models (Keras 2 with a nested Sequential, Keras 3 with Add) and old Sequential configs load', async () => {
  await withLoaded(fixture('test/fixtures/models/keras2-functional.json'), (loaded) => {
    assert.deepEqual(
      loaded.layers.map((l) => `${l.name}:${l.paramCount}:${l.instrumented}`),
      ['input_1:0:false', 'conv2d:40:true', 'conv2d_1:148:true', 'add:0:false', 'head:2570:false'],
    );
    assert.deepEqual(loaded.layers[4].outputShape, [10]);
  });
  await withLoaded(fixture('test/fixtures/models/keras3-functional.json'), (loaded) => {
    assert.equal(loaded.format, 'keras3');
    assert.deepEqual(
      loaded.model.layers.map((l) => l.name),
      ['input_layer', 'conv2d', 'conv2d_1', 'add', 'flatten', 'dense'],
    );
    // The Add joins both convs: removing either input would change the graph's inbound layers.
    const addInputs = loaded.model.getLayer('add').inboundNodes[0].inboundLayers.map((l) => l.name);
    assert.deepEqual(addInputs, ['conv2d', 'conv2d_1']);
    assert.deepEqual(loaded.trainingConfig, { optimizer: 'sgd', learningRate: 0.05, clipNorm: 1, loss: 'categorical_crossentropy' });
  });
  await withLoaded(fixture('test/fixtures/models/keras2-legacy-sequential.json'), (loaded) => {
    assert.deepEqual(loaded.trainingConfig, { optimizer: 'momentum', learningRate: 0.1, loss: 'categorical_crossentropy' });
    assert.deepEqual(loaded.layers.map((l) => l.paramCount), [40, 0, 2570]);
  });
});

test("Keras' exponential activation, which TF.js lacks, is registered", async () => {
  await withLoaded(fixture('test/fixtures/models/exponential-activation.json'), (loaded) => {
    assert.equal(loaded.layers[1].activation, 'exponential');
    const dense = loaded.model.getLayer('dense') as tf.layers.Layer & { activation: { apply(x: tf.Tensor): tf.Tensor } };
    const values = tf.tidy(() => Array.from(dense.activation.apply(tf.tensor1d([0, 1, -2])).dataSync()));
    assert.deepEqual(values.map((v) => v.toFixed(5)), [1, Math.E, Math.exp(-2)].map((v) => v.toFixed(5)));
  });
});

// ──── bad inputs ────

const BAD: Array<[string, RegExp]> = [
  ['empty.json', /: the file is empty$/],
  ['malformed.json', /: malformed JSON at line 26, column 11: comma expected$/],
  ['not-a-model.json', /: not a model file/],
  ['unknown-layer.json', /: layer "fancy_conv" has class "FancyConv2D", which is not a layer TF\.js knows/],
  ['lambda.json', /: layer "lambda" is a Lambda layer: it holds Python code, which cannot run outside Python/],
  ['unbuildable.json', /: layer "conv2d_1" \(Conv2D\) cannot be built: Negative dimension size/],
  ['dense-without-flatten.json', /: the output of layer "dense" has shape \[6, 6, 10\], not \[classes\]: add a Flatten/],
  ['tfjs-missing-shard/model.json', /: weight shard "weights\.bin" is missing/],
  ['tfjs-truncated-shard/model.json', /: weight shard weights\.bin has 1000 bytes but the weights manifest needs 3000 \(truncated/],
  ['tfjs-path-escape/model/model.json', /: weight shard path "\.\.\/weights\.bin" leaves the model's folder/],
  ['tfjs-absolute-path/model.json', /: weight shard path "\/etc\/hostname" leaves the model's folder/],
  ['tfjs-mismatched-weights/model.json', /: the weights do not match the model: "conv2d\/kernel" of layer "conv2d" is \[3, 3, 1, 3\] in the weights but the layer needs \[3, 3, 1, 2\]/],
];

async function assertInputError(file: string, expected: RegExp): Promise<void> {
  await assert.rejects(loadModelFile(file), (error: unknown) => {
    assert.ok(error instanceof InputError, `${file}: ${String(error)}`);
    assert.equal(error.file, file);
    assert.ok(error.message.startsWith(`${file}: `), error.message);
    assert.match(error.message, expected);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    return true;
  });
}

for (const [name, expected] of BAD) {
  test(`bad input ${name}: InputError naming the file and the problem`, async () => {
    const before = tf.memory().numTensors;
    await assertInputError(fixture(`test/fixtures/bad/${name}`), expected);
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind by a failed load');
  });
}

test('NaN weights load, with a warning naming the weight', async () => {
  await withLoaded(fixture('test/fixtures/bad/tfjs-nan-weights/model.json'), (loaded) => {
    assert.equal(loaded.weightsLoaded, true);
    assert.deepEqual(loaded.warnings, ['weight "conv2d/kernel" has 1 NaN value(s) of 18: training will produce non-finite results']);
  });
});

test('missing files, folders, HDF5 garbage and files over 100 MB are refused before reading', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-model-'));
  try {
    await assertInputError(path.join(dir, 'nope.json'), /: file not found$/);
    await assertInputError(dir, /: is a folder, not a model file/);

    const h5 = path.join(dir, 'model.h5');
    writeFileSync(h5, Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64)]));
    // An HDF5 signature followed by nothing: read as a legacy .h5 now, and refused as a damaged one.
    await assertInputError(h5, /: is a corrupted or truncated HDF5 file/);

    // A sparse file: 200 MB long, no blocks written. Reading it would take seconds and 200 MB of memory.
    const huge = path.join(dir, 'huge.json');
    writeFileSync(huge, '{');
    truncateSync(huge, 200 * 1024 * 1024);
    const started = Date.now();
    await assertInputError(huge, /: the file is 200\.0 MB, over the 100 MB limit for model files$/);
    assert.ok(Date.now() - started < 1000, 'refused from its size alone');

    const bom = path.join(dir, 'bom.json');
    writeFileSync(bom, '\uFEFF' + readFileSync(fixture('samples/healthy-small-cnn/keras2.json'), 'utf8'));
    await withLoaded(bom, (loaded) => assert.ok(loaded.text.startsWith('{')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad settings inside an otherwise valid file name the layer', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-model-'));
  const sample = () => JSON.parse(readFileSync(fixture('samples/healthy-small-cnn/keras2.json'), 'utf8'));
  const cases: Array<[string, (layers: Array<{ config: Record<string, unknown> }>) => void, RegExp]> = [
    ['activation', (layers) => (layers[6].config.activation = 'swishy'), /: layer "dense" \(Dense\) cannot be built: Unknown activation: swishy\.$/],
    ['initializer', (layers) => (layers[1].config.kernel_initializer = { class_name: 'Wobbly', config: {} }), /: layer "conv2d" \(Conv2D\) has kernel_initializer "Wobbly", which is not an initializer TF.js knows$/],
    ['filters', (layers) => (layers[3].config.filters = -3), /: layer "conv2d_1" \(Conv2D\) has filters -3: it must be a positive integer/],
    ['input', (layers) => (layers[0].config.batch_input_shape = [null, 28, -28, 1]), /: layer "input_1" has input shape \[None, 28, -28, 1\]: every dimension must be positive$/],
  ];
  try {
    for (const [name, change, expected] of cases) {
      const model = sample();
      change(model.model_config.config.layers);
      const file = path.join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(model, null, 2));
      await assertInputError(file, expected);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
