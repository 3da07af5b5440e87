import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseTree, type ParseError } from 'jsonc-parser';
import { applyEdits, planFixes } from '../src/shared/fixes/index';
import { proposedLearningRate } from '../src/shared/fixes/trainingFixes';
import { locateModel, locateTrainingConfig } from '../src/shared/locator';
import type { FixContext } from '../src/shared/diagnosis';
import type { Finding, Fix } from '../src/shared/findings';
import type { FindingCode, FixCode, OptimizerName } from '../src/shared/codes';
import type { TextEdit } from '../src/shared/textRange';

const casesDir = path.resolve(__dirname, '../../test/cases');

/** Files of the case set covering every format and shape the planners meet. */
const FILES = {
  keras2: 'vanishing-sigmoid10-k2/keras2.json', // Sequential, no training config
  keras3: 'vanishing-sigmoid10-k3/keras3.json', // Sequential, no compile config
  tfjs: 'vanishing-sigmoid10-tfjs/tfjs/model.json', // weights + trainingConfig
  keras2Training: 'exploding-large-init-k2/keras2.json', // model_config + training_config (SGD)
  keras3Training: 'exploding-high-lr-k3/keras3.json', // compile_config (SGD)
  keras2Functional: 'healthy-residual-k2/keras2.json',
  tfjsFunctional: 'healthy-residual-tfjs/tfjs/model.json',
  keras2Relu: 'dying-relu-bias-k2/keras2.json',
};

function context(file: string, optimizer: OptimizerName = 'sgd', learningRate = 0.01, text?: string): FixContext {
  const source = text ?? readFileSync(path.join(casesDir, file), 'utf8');
  const located = locateModel(source);
  return {
    text: source,
    format: located.format,
    layers: located.layers,
    options: { steps: 10, batchSize: 32, learningRate, optimizer, loss: 'categorical_crossentropy', data: 'synthetic', seed: 1, backend: 'cpu' },
  };
}

function finding(code: FindingCode, layer = 'conv2d'): Finding {
  return { code, severity: 'error', layer, message: '', evidence: {}, fixes: [] };
}

function fixFor(ctx: FixContext, code: FindingCode, fix: FixCode): Fix {
  const found = planFixes(finding(code), ctx).find((f) => f.code === fix);
  assert.ok(found, `${fix} is offered for ${code}`);
  return found;
}

/** Parses strictly, and the result is still a model file the locator reads. */
function assertValidModel(text: string): void {
  const errors: ParseError[] = [];
  parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  assert.deepEqual(errors, []);
  locateModel(text);
}

/** Every line no edit touches is still there, unchanged and in order; nothing else moved. */
function assertOnlyEditedLinesChange(before: string, after: string, edits: TextEdit[]): void {
  const touched = new Set<number>();
  for (const edit of edits) for (let line = edit.range.start.line; line <= edit.range.end.line; line++) touched.add(line);
  const afterLines = after.split('\n');
  let cursor = 0;
  before.split('\n').forEach((line, index) => {
    if (touched.has(index)) return;
    while (cursor < afterLines.length && afterLines[cursor] !== line) cursor++;
    assert.ok(cursor < afterLines.length, `untouched line ${index + 1} is kept: ${line}`);
    cursor++;
  });
  const inserted = edits.reduce((n, e) => n + e.newText.split('\n').length - 1 - (e.range.end.line - e.range.start.line), 0);
  assert.equal(afterLines.length, before.split('\n').length + inserted);
}

function applyChecked(ctx: FixContext, fix: Fix): string {
  assert.ok(fix.edits.length > 0, `${fix.code} edits the file`);
  const after = applyEdits(ctx.text, fix.edits);
  assertValidModel(after);
  assertOnlyEditedLinesChange(ctx.text, after, fix.edits);
  return after;
}

// ──── layer planners ────

for (const key of ['keras2', 'keras3', 'tfjs'] as const) {
  test(`use-relu on the sigmoid net (${key}): hidden layers ReLU, output softmax kept`, () => {
    const ctx = context(FILES[key]);
    const after = applyChecked(ctx, fixFor(ctx, 'vanishing-gradient', 'use-relu'));
    const layers = locateModel(after).layers.filter((l) => l.activation);
    assert.deepEqual(layers.slice(0, -1).map((l) => l.activation), Array(10).fill('relu'));
    assert.equal(layers[layers.length - 1].activation, 'softmax');
    // Weights in a TF.js file pin the initial values, so its initializers are left alone.
    const expectedInit = key === 'tfjs' ? 'VarianceScaling' : 'HeNormal';
    assert.ok(layers.slice(0, -1).every((l) => l.kernelInitializer === expectedInit));
  });

  test(`use-leaky-relu on the sigmoid net (${key}): linear conv + LeakyReLU layer`, () => {
    const ctx = context(FILES[key]);
    const after = applyChecked(ctx, fixFor(ctx, 'vanishing-gradient', 'use-leaky-relu'));
    const layers = locateModel(after).layers;
    assert.equal(layers.filter((l) => l.className === 'LeakyReLU').length, 10);
    const conv = layers.findIndex((l) => l.name === 'conv2d');
    assert.equal(layers[conv].activation, 'linear');
    assert.equal(layers[conv + 1].className, 'LeakyReLU');
    const model = JSON.parse(after);
    const list = (model.modelTopology ?? model).config.layers as Array<{ class_name: string; config: Record<string, unknown> }>;
    const leaky = list.find((l) => l.class_name === 'LeakyReLU')!;
    assert.equal(leaky.config[key === 'keras3' ? 'negative_slope' : 'alpha'], 0.1);
  });
}

for (const key of ['keras2', 'keras3'] as const) {
  test(`add-batch-normalization (${key}): conv → BN → Activation for every hidden conv`, () => {
    const ctx = context(FILES[key]);
    const after = applyChecked(ctx, fixFor(ctx, 'vanishing-gradient', 'add-batch-normalization'));
    const layers = locateModel(after).layers;
    const conv = layers.findIndex((l) => l.name === 'conv2d_3');
    assert.deepEqual(layers.slice(conv, conv + 3).map((l) => l.className), ['Conv2D', 'BatchNormalization', 'Activation']);
    assert.equal(layers[conv].activation, 'linear');
    assert.equal(layers[conv + 2].activation, 'sigmoid');
    const names = layers.map((l) => l.name);
    assert.equal(new Set(names).size, names.length, 'new layer names are unique');
    if (key === 'keras3') {
      const bn = JSON.parse(after).config.layers.find((l: { class_name: string }) => l.class_name === 'BatchNormalization');
      assert.equal(bn.module, 'keras.layers');
      assert.equal(bn.registered_name, null);
      assert.deepEqual(bn.build_config.input_shape, [null, 16, 16, 8]);
      assert.deepEqual(bn.config.dtype, JSON.parse(ctx.text).config.layers[1].config.dtype);
    }
  });

  test(`change-initializer (${key}): LeCun for sigmoid, Glorot for the softmax output`, () => {
    const ctx = context(FILES[key]);
    const after = applyChecked(ctx, fixFor(ctx, 'vanishing-gradient', 'change-initializer'));
    const layers = locateModel(after).layers.filter((l) => l.kernelInitializer);
    assert.ok(layers.slice(0, -1).every((l) => l.kernelInitializer === 'VarianceScaling'));
    assert.equal(layers[layers.length - 1].kernelInitializer, 'GlorotUniform');
  });
}

test('TF.js file with weight shards: no BatchNormalization or initializer fix (TF.js loads shards strictly)', () => {
  const ctx = context(FILES.tfjs);
  const codes = planFixes(finding('vanishing-gradient'), ctx).map((f) => f.code);
  assert.deepEqual(codes, ['use-relu', 'use-leaky-relu']);
});

test('change-initializer on a negative-bias ReLU net: He kernels and zero biases', () => {
  const ctx = context(FILES.keras2Relu);
  const fixes = planFixes(finding('dying-relu'), ctx);
  assert.equal(fixes[0].code, 'use-leaky-relu');
  const after = applyChecked(ctx, fixes.find((f) => f.code === 'change-initializer')!);
  const model = JSON.parse(after);
  const convs = model.config.layers.filter((l: { class_name: string }) => l.class_name === 'Conv2D');
  assert.ok(convs.every((c: { config: { bias_initializer: { class_name: string }; kernel_initializer: { class_name: string } } }) => c.config.bias_initializer.class_name === 'Zeros' && c.config.kernel_initializer.class_name === 'HeNormal'));
});

for (const key of ['keras2Functional', 'tfjsFunctional'] as const) {
  test(`Functional residual model (${key}): inserted layers are wired in and consumers rewired`, () => {
    const ctx = context(FILES[key]);
    const fix = fixFor(ctx, 'dying-relu', 'use-leaky-relu');
    const after = applyChecked(ctx, fix);
    const topology = JSON.parse(after);
    const layers = (topology.modelTopology ?? topology).config.layers as Array<{ name: string; class_name: string; inbound_nodes: unknown[][][] }>;
    const source = (layer: string) => layers.find((l) => l.name === layer)!.inbound_nodes[0].map((entry) => entry[0]);
    const leaky = layers.filter((l) => l.class_name === 'LeakyReLU');
    assert.equal(leaky.length, 3, 'conv2d, conv2d_1 and the relu Activation layer');
    // conv2d → leaky_re_lu; both conv2d_1 and the residual add read the LeakyReLU now.
    assert.deepEqual(source('leaky_re_lu'), ['conv2d']);
    assert.deepEqual(source('conv2d_1'), ['leaky_re_lu']);
    assert.ok(source('add').includes('leaky_re_lu'));
    assert.equal(layers.find((l) => l.name === 'activation')!.class_name, 'LeakyReLU', 'the Activation layer is replaced in place');
  });
}

test('add-batch-normalization in a Keras 2 Functional model rewires the residual add', () => {
  const ctx = context(FILES.keras2Functional);
  const after = applyChecked(ctx, fixFor(ctx, 'vanishing-gradient', 'add-batch-normalization'));
  const layers = JSON.parse(after).config.layers as Array<{ name: string; class_name: string; inbound_nodes: unknown[][][] }>;
  const source = (layer: string) => layers.find((l) => l.name === layer)!.inbound_nodes[0].map((entry) => entry[0]);
  assert.deepEqual(source('batch_normalization'), ['conv2d']);
  assert.deepEqual(source('activation_1'), ['batch_normalization']);
  assert.deepEqual(source('conv2d_1'), ['activation_1']);
  // conv2d_2 is linear: BN only, and the add reads it.
  assert.ok(source('add').includes('batch_normalization_2'));
});

// ──── training-config planners ────

const TRAINING_FILES = ['keras2', 'keras3', 'tfjs', 'keras2Training', 'keras3Training'] as const;

for (const key of TRAINING_FILES) {
  test(`lower/raise learning rate, clip, change optimizer (${key})`, () => {
    const lr = key === 'tfjs' ? 0.001 : 0.01;
    const optimizer: OptimizerName = key === 'tfjs' ? 'adam' : 'sgd';
    const ctx = context(FILES[key], optimizer, lr);
    const lower = applyChecked(ctx, fixFor(ctx, 'learning-rate-too-high', 'lower-learning-rate'));
    assert.equal(locateTrainingConfig(lower).config.learningRate, lr / 10);
    const raise = applyChecked(ctx, fixFor(ctx, 'learning-rate-too-low', 'raise-learning-rate'));
    assert.equal(locateTrainingConfig(raise).config.learningRate, lr * 10);
    const clip = applyChecked(ctx, fixFor(ctx, 'exploding-gradient', 'clip-gradients'));
    assert.equal(locateTrainingConfig(clip).config.clipNorm, 1);
    if (optimizer === 'sgd') {
      const switched = applyChecked(ctx, fixFor(ctx, 'slow-convergence', 'change-optimizer'));
      const config = locateTrainingConfig(switched).config;
      assert.equal(config.optimizer, 'adam');
      assert.equal(config.learningRate, 0.001);
    }
  });
}

test('a one-line file (Keras model.to_json()) stays on one line', () => {
  const compact = JSON.stringify(JSON.parse(readFileSync(path.join(casesDir, FILES.keras2), 'utf8')));
  const ctx = context(FILES.keras2, 'sgd', 0.01, compact);
  for (const fix of [...planFixes(finding('vanishing-gradient'), ctx), ...planFixes(finding('learning-rate-too-high'), ctx)]) {
    const after = applyEdits(compact, fix.edits);
    assert.ok(!after.includes('\n'), `${fix.code} adds no line breaks`);
    assertValidModel(after);
  }
});

test('fixes come best first for the model: sigmoid net → use-relu; SGD slow net → change-optimizer', () => {
  assert.equal(planFixes(finding('vanishing-gradient'), context(FILES.keras2))[0].code, 'use-relu');
  assert.equal(planFixes(finding('slow-convergence'), context(FILES.keras2Training, 'sgd'))[0].code, 'change-optimizer');
  assert.equal(planFixes(finding('slow-convergence'), context(FILES.keras2Training, 'adam'))[0].code, 'raise-learning-rate');
});

test('applyEdits refuses overlapping edits', () => {
  const range = (a: number, b: number) => ({ start: { line: 0, character: a }, end: { line: 0, character: b } });
  assert.equal(applyEdits('abcdef', [{ range: range(4, 5), newText: 'X' }, { range: range(0, 1), newText: 'Y' }]), 'YbcdXf');
  assert.throws(() => applyEdits('abcdef', [{ range: range(0, 3), newText: 'X' }, { range: range(2, 4), newText: 'Y' }]), /overlapping/);
});

test('no planner produces overlapping edits on any case file', () => {
  const codes: FindingCode[] = ['vanishing-gradient', 'exploding-gradient', 'dying-relu', 'saturated-activation', 'learning-rate-too-low', 'oscillating-loss'];
  for (const file of Object.values(FILES)) {
    const ctx = context(file);
    for (const code of codes) for (const fix of planFixes(finding(code), ctx)) assertValidModel(applyEdits(ctx.text, fix.edits));
  }
});

test('learning-rate fixes go back to the optimizer default when far off it, else by 10×', () => {
  assert.equal(proposedLearningRate(1e-6, 'adam', 'raise'), 0.001);
  assert.equal(proposedLearningRate(3, 'sgd', 'lower'), 0.01);
  assert.equal(proposedLearningRate(0.2, 'adam', 'lower'), 0.001);
  assert.equal(proposedLearningRate(0.001, 'sgd', 'raise'), 0.01);
  assert.equal(proposedLearningRate(0.01, 'sgd', 'lower'), 0.001);
  assert.equal(proposedLearningRate(0.05, 'sgd', 'lower'), 0.005);
});
