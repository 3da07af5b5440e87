// Generates the labelled case set: test/cases/<case>/{keras2.json | keras3.json | tfjs/model.json + weights.bin}.
// Labels (expected codes, accepted fixes, the measurement behind each) live in cases.json.
// Deterministic: Keras files from fixed layer lists, TF.js weights from seeded initializers.
// Run: node test/cases/make-cases.mjs
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
} from '../../scripts/keras-json.mjs';
import { saveTfjsModel, seededTfjsModel } from '../../scripts/tfjs-files.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const manifest = JSON.parse(readFileSync(path.join(here, 'cases.json'), 'utf8'));

// ──── architectures (layer specs of scripts/keras-json.mjs) ────

const input = (size, channels = 1) => ({ kind: 'input', name: 'input_1', shape: [size, size, channels] });
const suffix = (i) => (i === 0 ? '' : `_${i}`);

/** `depth` 3×3 'same' convs, a pool after every `poolEvery`, then a 10-way softmax. */
function convStack({ size = 16, depth, filters = 8, activation, init, bias, batchNorm = false, poolEvery = 0 }) {
  const layers = [input(size)];
  let pools = 0;
  for (let i = 0; i < depth; i++) {
    const conv = { kind: 'conv', name: `conv2d${suffix(i)}`, filters, activation, init: init() };
    layers.push(bias === undefined ? conv : { ...conv, bias });
    if (batchNorm) layers.push({ kind: 'bn', name: `batch_normalization${suffix(i)}` });
    if (poolEvery && (i + 1) % poolEvery === 0) layers.push({ kind: 'pool', name: `max_pooling2d${suffix(pools++)}` });
  }
  layers.push({ kind: 'flatten', name: 'flatten' }, { kind: 'dense', name: 'dense', units: 10, activation: 'softmax', init: glorotUniform() });
  return layers;
}

/** LeNet-style: conv-pool-conv-pool-dense(-dense). */
function lenet({ size = 28, activation = 'relu', init = glorotUniform, hidden = 0 }) {
  const layers = [
    input(size),
    { kind: 'conv', name: 'conv2d', filters: 6, padding: 'valid', activation, init: init() },
    { kind: 'pool', name: 'max_pooling2d' },
    { kind: 'conv', name: 'conv2d_1', filters: 12, padding: 'valid', activation, init: init() },
    { kind: 'pool', name: 'max_pooling2d_1' },
    { kind: 'flatten', name: 'flatten' },
  ];
  if (hidden) layers.push({ kind: 'dense', name: 'dense_hidden', units: hidden, activation, init: init() });
  layers.push({ kind: 'dense', name: 'dense', units: 10, activation: 'softmax', init: glorotUniform() });
  return layers;
}

const ARCHITECTURES = {
  'lenet-relu': () => lenet({}),
  'lenet-relu-hidden': () => lenet({ hidden: 32 }),
  'lenet-tanh': () => lenet({ activation: 'tanh' }),
  'relu-bn-6conv': () => convStack({ depth: 6, activation: 'relu', init: heNormal, batchNorm: true, poolEvery: 3 }),
  'relu-he-4conv': () => convStack({ depth: 4, activation: 'relu', init: heNormal, poolEvery: 2 }),
  'tanh-2conv': () => convStack({ depth: 2, activation: 'tanh', init: glorotUniform, poolEvery: 1 }),
  'sigmoid-10conv': () => convStack({ depth: 10, activation: 'sigmoid', init: glorotUniform, poolEvery: 5 }),
  'sigmoid-7conv': () => convStack({ depth: 7, activation: 'sigmoid', init: glorotUniform, poolEvery: 4 }),
  'tanh-small-init-8conv': () => convStack({ depth: 8, activation: 'tanh', init: () => randomNormal(0.02), poolEvery: 4 }),
  'relu-large-init-6conv': () => convStack({ depth: 6, activation: 'relu', init: () => randomNormal(0.5), poolEvery: 3 }),
  'relu-tiny-init-8conv': () => convStack({ depth: 8, activation: 'relu', init: () => randomNormal(1e-3), poolEvery: 4 }),
  'relu-negative-bias': () => convStack({ depth: 4, activation: 'relu', init: heNormal, bias: -4, poolEvery: 2 }),
  'tanh-large-init-6conv': () => convStack({ depth: 6, activation: 'tanh', init: () => randomNormal(2.0), poolEvery: 3 }),
};

// Bias initializers are not a spec option of keras-json.mjs: set them on the written config.
function applyBias(model, specs) {
  const layers = model.config.layers;
  specs.forEach((spec, i) => {
    if (spec.bias === undefined) return;
    const config = layers[i].config;
    config.bias_initializer = { ...config.bias_initializer, class_name: 'Constant', config: { value: spec.bias } };
  });
  return model;
}

// ──── the Functional residual model (TF.js API; Keras 2 JSON is its `toJSON`) ────

function residualModel(seed) {
  const he = (i) => tf.initializers.heNormal({ seed: seed + i });
  const x = tf.input({ shape: [16, 16, 1], name: 'input_1' });
  const stem = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: he(0), name: 'conv2d' }).apply(x);
  const a = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: he(1), name: 'conv2d_1' }).apply(stem);
  const b = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: he(2), name: 'conv2d_2' }).apply(a);
  const sum = tf.layers.add({ name: 'add' }).apply([stem, b]);
  const act = tf.layers.activation({ activation: 'relu', name: 'activation' }).apply(sum);
  const pool = tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d' }).apply(act);
  const flat = tf.layers.flatten({ name: 'flatten' }).apply(pool);
  const out = tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }), name: 'dense' }).apply(flat);
  return tf.model({ inputs: x, outputs: out, name: 'residual' });
}

// ──── writing ────

const KERAS_LOSS = 'categorical_crossentropy';

function keras2File(model, training) {
  if (!training) return model;
  const { keras_version, backend, ...modelConfig } = model;
  return { keras_version, backend, model_config: modelConfig, training_config: keras2TrainingConfig(training.optimizer, training.learningRate, KERAS_LOSS) };
}

await tf.setBackend('cpu');
for (const [index, entry] of manifest.cases.entries()) {
  // PyTorch cases are hand-written model.py files (their measurements: scripts/torch/measure_cases.py).
  if (entry.format === 'pytorch') continue;
  const dir = path.join(here, entry.id);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const training = entry.training;
  const seed = 5000 + 100 * index;
  if (entry.architecture === 'residual') {
    const model = residualModel(seed);
    if (entry.format === 'keras2') writeFileSync(path.join(dir, 'keras2.json'), toFileText(keras2File(model.toJSON(null, false), training)));
    else {
      mkdirSync(path.join(dir, 'tfjs'));
      await saveTfjsModel(model, path.join(dir, 'tfjs'), training && { ...training, loss: KERAS_LOSS });
    }
    model.dispose();
    continue;
  }
  const specs = ARCHITECTURES[entry.architecture]();
  if (entry.format === 'keras2') {
    writeFileSync(path.join(dir, 'keras2.json'), toFileText(keras2File(applyBias(keras2Sequential('sequential', specs), specs), training)));
  } else if (entry.format === 'keras3') {
    const compile = training && keras3CompileConfig(training.optimizer, training.learningRate, KERAS_LOSS);
    writeFileSync(path.join(dir, 'keras3.json'), toFileText(applyBias(keras3Sequential('sequential', specs, compile), specs)));
  } else {
    mkdirSync(path.join(dir, 'tfjs'));
    const model = await seededTfjsModel(applyBias(keras2Sequential('sequential', specs), specs), seed);
    await saveTfjsModel(model, path.join(dir, 'tfjs'), training && { ...training, loss: KERAS_LOSS });
    model.dispose();
  }
}
console.log(`${manifest.cases.filter((e) => e.format !== 'pytorch').length} cases written`);
