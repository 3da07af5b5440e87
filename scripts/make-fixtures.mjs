// Generates test/fixtures/bad/ (described in test/fixtures/README.md): one small model file per kind of bad input the engine must
// refuse (or, for NaN weights, warn about) with a clear one-line message. Deterministic.
// Run: node scripts/make-fixtures.mjs
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keras2Sequential, toFileText } from './keras-json.mjs';
import { saveTfjsModel, seededTfjsModel } from './tfjs-files.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bad = path.join(root, 'test/fixtures/bad');
rmSync(bad, { recursive: true, force: true });
mkdirSync(bad, { recursive: true });

const INPUT = { kind: 'input', name: 'input_1', shape: [8, 8, 1] };
const CONV = { kind: 'conv', name: 'conv2d', filters: 2, padding: 'valid', activation: 'relu' };
const TINY = [INPUT, CONV, { kind: 'flatten', name: 'flatten' }, { kind: 'dense', name: 'dense', units: 10, activation: 'softmax' }];

function write(name, text) {
  const file = path.join(bad, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}
const keras = (layers) => toFileText(keras2Sequential('sequential', layers));

write('empty.json', '');
// A comma missing after `"trainable": true` of the conv layer: a typical hand-edit slip.
write('malformed.json', keras(TINY).replace('"name": "conv2d",\n          "trainable": true,', '"name": "conv2d",\n          "trainable": true'));
write('not-a-model.json', toFileText({ name: 'my-package', version: '1.0.0', dependencies: { lodash: '^4.17.21' } }));
write(
  'unknown-layer.json',
  keras([INPUT, { kind: 'raw', name: 'fancy_conv', className: 'FancyConv2D', config: { filters: 2 } }, ...TINY.slice(2)]),
);
write(
  'lambda.json',
  keras([
    INPUT,
    {
      kind: 'raw',
      name: 'lambda',
      className: 'Lambda',
      // Keras stores the Python function as marshalled bytecode: nothing outside Python can run it.
      config: {
        function: ['4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARQAUwApAk7pAgAAAKkAKQHaAXhyAgAAAHIC\n', null, null],
        function_type: 'lambda',
        module: '__main__',
        output_shape: null,
        output_shape_type: 'raw',
        output_shape_module: null,
        arguments: {},
      },
    },
    ...TINY.slice(1),
  ]),
);
// 8×8 → 6×6 → 3×3 (pool) → a 5×5 'valid' conv has no room left.
write(
  'unbuildable.json',
  keras([
    INPUT,
    CONV,
    { kind: 'pool', name: 'max_pooling2d' },
    { kind: 'conv', name: 'conv2d_1', filters: 2, kernel: [5, 5], padding: 'valid', activation: 'relu' },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'dense', units: 10, activation: 'softmax' },
  ]),
);
// Dense on a conv's 3-D output applies per position: the model outputs [6, 6, 10], not class scores.
write('dense-without-flatten.json', keras([INPUT, CONV, { kind: 'dense', name: 'dense', units: 10, activation: 'softmax' }]));

await tf.setBackend('cpu');

async function tinyTfjs(folder, seed = 7) {
  const dir = path.join(bad, folder);
  mkdirSync(dir, { recursive: true });
  const model = await seededTfjsModel(keras2Sequential('sequential', TINY), seed);
  const modelJson = await saveTfjsModel(model, dir);
  model.dispose();
  return { dir, modelJson };
}
function rewriteManifest(dir, modelJson, change) {
  change(modelJson);
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson, null, 2) + '\n');
}

{
  const { dir } = await tinyTfjs('tfjs-missing-shard');
  rmSync(path.join(dir, 'weights.bin'));
}
{
  const { dir } = await tinyTfjs('tfjs-truncated-shard');
  const bytes = readFileSync(path.join(dir, 'weights.bin'));
  writeFileSync(path.join(dir, 'weights.bin'), bytes.subarray(0, 1000));
}
{
  const { dir, modelJson } = await tinyTfjs('tfjs-path-escape/model');
  rewriteManifest(dir, modelJson, (json) => (json.weightsManifest[0].paths = ['../weights.bin']));
  // The shard it points at exists: the loader must refuse the path, not merely fail to find it.
  writeFileSync(path.join(bad, 'tfjs-path-escape/weights.bin'), readFileSync(path.join(dir, 'weights.bin')));
  rmSync(path.join(dir, 'weights.bin'));
}
{
  const { dir, modelJson } = await tinyTfjs('tfjs-absolute-path');
  rewriteManifest(dir, modelJson, (json) => (json.weightsManifest[0].paths = ['/etc/hostname']));
}
{
  // Weights of a 3-filter conv under a topology that has 2: sizes agree with the manifest, not the layers.
  const { dir, modelJson } = await tinyTfjs('tfjs-mismatched-weights');
  const wider = await seededTfjsModel(keras2Sequential('sequential', [INPUT, { ...CONV, filters: 3 }, ...TINY.slice(2)]), 7);
  const widerDir = path.join(bad, 'tfjs-mismatched-weights/wider');
  mkdirSync(widerDir, { recursive: true });
  const widerJson = await saveTfjsModel(wider, widerDir);
  wider.dispose();
  writeFileSync(path.join(dir, 'weights.bin'), readFileSync(path.join(widerDir, 'weights.bin')));
  rmSync(widerDir, { recursive: true });
  rewriteManifest(dir, modelJson, (json) => (json.weightsManifest = widerJson.weightsManifest));
}
{
  const { dir } = await tinyTfjs('tfjs-nan-weights');
  const bytes = readFileSync(path.join(dir, 'weights.bin'));
  const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  floats[0] = NaN; // first element of conv2d/kernel
  writeFileSync(path.join(dir, 'weights.bin'), bytes);
}
console.log(`fixtures written to ${path.relative(root, bad)}`);
