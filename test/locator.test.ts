import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { locateModel, locateTrainingConfig, ModelTextError } from '../src/shared/locator';
import type { Position, Range } from '../src/shared/textRange';

const root = path.resolve(__dirname, '../..');
const SAMPLES = ['vanishing-sigmoid-10conv', 'healthy-relu-bn-10conv', 'exploding-large-init', 'healthy-small-cnn'];
const FILES = [
  ['keras2.json', 'keras2'],
  ['keras3.json', 'keras3'],
  ['tfjs/model.json', 'tfjs-layers'],
] as const;

function read(relative: string): string {
  return readFileSync(path.join(root, relative), 'utf8');
}

/** Independent of the locator: offsets of line starts for \n, \r\n and \r line ends. */
function offsetOf(text: string, position: Position): number {
  let line = 0;
  let offset = 0;
  while (line < position.line) {
    const match = /\r\n|\r|\n/.exec(text.slice(offset));
    assert.ok(match, `line ${position.line} past the end of the text`);
    offset += match.index + match[0].length;
    line++;
  }
  return offset + position.character;
}

function slice(text: string, range: Range | undefined): string {
  assert.ok(range, 'range missing');
  return text.slice(offsetOf(text, range.start), offsetOf(text, range.end));
}

for (const sample of SAMPLES) {
  for (const [file, format] of FILES) {
    test(`${sample}/${file}: format ${format}, every layer's ranges point at its name and config`, () => {
      const text = read(`samples/${sample}/${file}`);
      const located = locateModel(text);
      assert.equal(located.format, format);
      assert.ok(located.layers.length >= 7);
      for (const layer of located.layers) {
        assert.equal(slice(text, layer.nameRange), JSON.stringify(layer.name));
        const config = JSON.parse(slice(text, layer.range)) as { class_name: string; config: { name: string } };
        assert.equal(config.class_name, layer.className);
        assert.equal(config.config.name, layer.name);
        // Each layer starts on a line of its own, so a marker on range.start is on that layer.
        assert.ok(layer.range.end.line > layer.range.start.line);
      }
    });
  }
}

test('activation and kernel initializer ranges and values (Keras 2, Keras 3, TF.js)', () => {
  for (const [file] of FILES) {
    const text = read(`samples/vanishing-sigmoid-10conv/${file}`);
    const convs = locateModel(text).layers.filter((l) => l.className === 'Conv2D');
    assert.equal(convs.length, 10);
    for (const conv of convs) {
      assert.equal(conv.activation, 'sigmoid');
      assert.equal(slice(text, conv.activationRange), '"sigmoid"');
      const initializer = JSON.parse(slice(text, conv.initializerRange)) as { class_name: string };
      assert.equal(initializer.class_name, conv.kernelInitializer);
    }
    // TF.js writes GlorotUniform as its base class.
    assert.equal(convs[0].kernelInitializer, file.startsWith('tfjs') ? 'VarianceScaling' : 'GlorotUniform');
  }
  const exploding = locateModel(read('samples/exploding-large-init/keras2.json')).layers;
  assert.equal(exploding.find((l) => l.name === 'conv2d')?.kernelInitializer, 'RandomNormal');
  const pool = exploding.find((l) => l.name === 'max_pooling2d');
  assert.equal(pool?.activationRange, undefined);
  assert.equal(pool?.initializerRange, undefined);
});

test('wrappers: model_config beside training_config, the bare layer list of old Sequential configs, Functional layers', () => {
  const saved = locateModel(read('samples/exploding-large-init/keras2.json'));
  assert.equal(saved.format, 'keras2');
  assert.equal(saved.layers[1].name, 'conv2d');

  const legacyText = read('test/fixtures/models/keras2-legacy-sequential.json');
  const legacy = locateModel(legacyText);
  assert.deepEqual(
    legacy.layers.map((l) => l.name),
    ['conv2d_1', 'flatten_1', 'dense_1'],
  );
  assert.equal(slice(legacyText, legacy.layers[2].nameRange), '"dense_1"');

  const functionalText = read('test/fixtures/models/keras2-functional.json');
  const functional = locateModel(functionalText);
  assert.deepEqual(
    functional.layers.map((l) => `${l.name}:${l.className}`),
    ['input_1:InputLayer', 'conv2d:Conv2D', 'conv2d_1:Conv2D', 'add:Add', 'head:Sequential'],
  );
  // The name inside `config` (Functional layers repeat it outside): the one Sequential files also have.
  const head = functional.layers[4];
  assert.equal(slice(functionalText, head.nameRange), '"head"');
  assert.ok(offsetOf(functionalText, head.nameRange!.start) > offsetOf(functionalText, head.range.start));

  const keras3 = locateModel(read('test/fixtures/models/keras3-functional.json'));
  assert.equal(keras3.format, 'keras3');
  assert.equal(keras3.layers.length, 6);

  const converted = JSON.stringify(
    {
      format: 'layers-model',
      generatedBy: 'keras v2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: { keras_version: '2.15.0', backend: 'tensorflow', model_config: JSON.parse(legacyText).model_config, training_config: JSON.parse(legacyText).training_config },
      weightsManifest: [],
    },
    null,
    2,
  );
  const tfjs = locateModel(converted);
  assert.equal(tfjs.format, 'tfjs-layers');
  assert.equal(slice(converted, tfjs.layers[0].nameRange), '"conv2d_1"');
  assert.equal(locateTrainingConfig(converted).config.learningRate, 0.1);
});

test('positions count UTF-16 code units and handle CRLF line ends, like VS Code', () => {
  const model = JSON.parse(read('samples/healthy-small-cnn/keras2.json').replace(/"conv2d_1"/g, '"conv_😀_ü"'));
  const text = JSON.stringify(model, null, 2).replace(/\n/g, '\r\n');
  const layer = locateModel(text).layers.find((l) => l.name === 'conv_😀_ü');
  assert.ok(layer?.nameRange);
  assert.equal(slice(text, layer.nameRange), '"conv_😀_ü"');
  // "conv_😀_ü" in quotes is 11 UTF-16 code units (the emoji is a surrogate pair).
  assert.equal(layer.nameRange.end.character - layer.nameRange.start.character, 11);
  const activation = locateModel(text).layers.find((l) => l.name === 'dense');
  assert.equal(slice(text, activation?.activationRange), '"softmax"');
});

test('training config: Keras 2 training_config, Keras 3 compile_config, TF.js trainingConfig, old `lr`', () => {
  const keras2Text = read('samples/exploding-large-init/keras2.json');
  const keras2 = locateTrainingConfig(keras2Text);
  assert.equal(keras2.key, 'training_config');
  assert.deepEqual(keras2.config, { optimizer: 'sgd', learningRate: 0.01, loss: 'categorical_crossentropy' });
  assert.equal(keras2.learningRateKey, 'learning_rate');
  assert.equal(slice(keras2Text, keras2.learningRateRange), '0.01');
  assert.equal(slice(keras2Text, keras2.optimizerClassNameRange), '"SGD"');
  assert.equal(slice(keras2Text, keras2.clipNormRange), 'null');
  assert.equal(JSON.parse(slice(keras2Text, keras2.optimizerConfigRange)).name, 'SGD');
  assert.ok(JSON.parse(slice(keras2Text, keras2.range)).optimizer_config);

  const keras3Text = read('test/fixtures/models/keras3-functional.json');
  const keras3 = locateTrainingConfig(keras3Text);
  assert.equal(keras3.key, 'compile_config');
  assert.deepEqual(keras3.config, { optimizer: 'sgd', learningRate: 0.05, clipNorm: 1, loss: 'categorical_crossentropy' });
  assert.equal(slice(keras3Text, keras3.clipNormRange), '1.0');

  const tfjsText = read('samples/healthy-small-cnn/tfjs/model.json');
  const tfjs = locateTrainingConfig(tfjsText);
  assert.equal(tfjs.key, 'trainingConfig');
  assert.equal(tfjs.learningRateKey, 'learningRate');
  assert.deepEqual(tfjs.config, { optimizer: 'adam', learningRate: 0.001, loss: 'categorical_crossentropy' });
  assert.equal(slice(tfjsText, tfjs.learningRateRange), '0.001');

  const legacy = locateTrainingConfig(read('test/fixtures/models/keras2-legacy-sequential.json'));
  assert.equal(legacy.learningRateKey, 'lr');
  assert.deepEqual(legacy.config, { optimizer: 'momentum', learningRate: 0.1, loss: 'categorical_crossentropy' });
});

test('no training config: empty config and the point after the last top-level property', () => {
  const text = read('samples/vanishing-sigmoid-10conv/keras2.json');
  const location = locateTrainingConfig(text);
  assert.equal(location.range, undefined);
  assert.deepEqual(location.config, {});
  assert.ok(location.insertAfter);
  const before = text.slice(0, offsetOf(text, location.insertAfter));
  assert.ok(before.endsWith('"backend": "tensorflow"'), before.slice(-40));
});

test('malformed JSON and JSON that is no model throw ModelTextError with a one-line reason', () => {
  const malformed = read('test/fixtures/bad/malformed.json');
  assert.throws(
    () => locateModel(malformed),
    (error: unknown) => {
      assert.ok(error instanceof ModelTextError);
      assert.match(error.message, /^malformed JSON at line 26, column 11: comma expected$/);
      assert.deepEqual(error.position, { line: 25, character: 10 });
      return true;
    },
  );
  const cases: Array<[string, RegExp]> = [
    ['', /the file is empty/],
    ['  \n', /the file is empty/],
    ['[1, 2]', /not a model file: the top level is an array/],
    ['{"name": "x"}', /not a model file/],
    ['{"class_name": "Sequential", "config": {"name": "s"}}', /no "layers" list/],
    ['{"format": "layers-model", "weightsManifest": []}', /without a "modelTopology"/],
    ['{"a": 1,}', /malformed JSON at line 1, column 9/],
    ['{"a": 1} // note', /malformed JSON/],
  ];
  for (const [text, expected] of cases) {
    assert.throws(() => locateModel(text), (error: unknown) => error instanceof ModelTextError && expected.test(error.message) && !error.message.includes('\n'), text);
  }
});
