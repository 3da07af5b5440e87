// Generates samples/<model>/{keras2.json, keras3.json, tfjs/model.json, tfjs/weights.bin}.
// Deterministic: the Keras files are written from fixed layer lists, and the TF.js weights come
// from seeded initializers, so re-running gives the same bytes. Run: node scripts/make-samples.mjs
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  glorotUniform,
  heNormal,
  keras2Sequential,
  keras2TrainingConfig,
  keras3CompileConfig,
  keras3Sequential,
  randomNormal,
  toFileText,
} from './keras-json.mjs';
import { saveTfjsModel, seededTfjsModel } from './tfjs-files.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const INPUT = { kind: 'input', name: 'input_1', shape: [28, 28, 1] };

/** Ten 3×3 'same' convs in two blocks of five, each block ending in a 2×2 max pool. */
function tenConvStack({ activation, init, batchNorm }) {
  const layers = [INPUT];
  for (let i = 0; i < 10; i++) {
    const suffix = i === 0 ? '' : `_${i}`;
    layers.push({ kind: 'conv', name: `conv2d${suffix}`, filters: 8, activation, init: init() });
    if (batchNorm) layers.push({ kind: 'bn', name: `batch_normalization${suffix}` });
    if (i === 4) layers.push({ kind: 'pool', name: 'max_pooling2d' });
    if (i === 9) layers.push({ kind: 'pool', name: 'max_pooling2d_1' });
  }
  layers.push({ kind: 'flatten', name: 'flatten' }, { kind: 'dense', name: 'dense', units: 10, activation: 'softmax', init: init() });
  return layers;
}

const SAMPLES = [
  {
    folder: 'vanishing-sigmoid-10conv',
    layers: tenConvStack({ activation: 'sigmoid', init: glorotUniform, batchNorm: false }),
  },
  {
    folder: 'healthy-relu-bn-10conv',
    layers: tenConvStack({ activation: 'relu', init: heNormal, batchNorm: true }),
  },
  {
    folder: 'exploding-large-init',
    layers: tenConvStack({ activation: 'relu', init: () => randomNormal(0.5), batchNorm: false }),
    training: { optimizer: 'SGD', learningRate: 0.01, loss: 'categorical_crossentropy' },
  },
  {
    folder: 'healthy-small-cnn',
    layers: [
      INPUT,
      { kind: 'conv', name: 'conv2d', filters: 8, padding: 'valid', activation: 'relu', init: glorotUniform() },
      { kind: 'pool', name: 'max_pooling2d' },
      { kind: 'conv', name: 'conv2d_1', filters: 16, padding: 'valid', activation: 'relu', init: glorotUniform() },
      { kind: 'pool', name: 'max_pooling2d_1' },
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dense', name: 'dense', units: 10, activation: 'softmax', init: glorotUniform() },
    ],
    training: { optimizer: 'Adam', learningRate: 0.001, loss: 'categorical_crossentropy' },
  },
];

/** Keras 2 saved files keep the training settings beside the model config (`model_config` + `training_config`). */
function keras2File(sample) {
  const model = keras2Sequential('sequential', sample.layers);
  if (!sample.training) return model;
  const { keras_version, backend, ...modelConfig } = model;
  const { optimizer, learningRate, loss } = sample.training;
  return { keras_version, backend, model_config: modelConfig, training_config: keras2TrainingConfig(optimizer, learningRate, loss) };
}

function keras3File(sample) {
  const compile = sample.training && keras3CompileConfig(sample.training.optimizer, sample.training.learningRate, sample.training.loss);
  return keras3Sequential('sequential', sample.layers, compile);
}

await tf.setBackend('cpu');
for (const [index, sample] of SAMPLES.entries()) {
  const dir = path.join(root, 'samples', sample.folder);
  mkdirSync(path.join(dir, 'tfjs'), { recursive: true });
  writeFileSync(path.join(dir, 'keras2.json'), toFileText(keras2File(sample)));
  writeFileSync(path.join(dir, 'keras3.json'), toFileText(keras3File(sample)));

  const model = await seededTfjsModel(keras2Sequential('sequential', sample.layers), 1000 * (index + 1));
  await saveTfjsModel(model, path.join(dir, 'tfjs'), sample.training);
  console.log(`${sample.folder}: ${model.countParams()} parameters`);
  model.dispose();
}
