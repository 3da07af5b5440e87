import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';
import { loadModelFile } from '../src/engine/model/load';
import { Trainer } from '../src/engine/train/trainer';
import { applyEdits, planFixes } from '../src/shared/fixes/index';
import { locateModel } from '../src/shared/locator';
import type { FindingCode, FixCode } from '../src/shared/codes';
import type { FixContext } from '../src/shared/diagnosis';

/**
 * Every planner's edited file loads through the engine's own loader (TF.js) and trains a step:
 * a fix that parses but does not build would be a quick fix that breaks the user's model.
 */
const casesDir = path.resolve(__dirname, '../../test/cases');
let workDir: string;

before(async () => {
  await selectBackend('auto');
  workDir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-fixes-'));
});
after(() => rmSync(workDir, { recursive: true, force: true }));

/** Copies the case folder (TF.js shards included), writes the edited model next to them, loads and steps it. */
async function loadEditedAndStep(caseFile: string, code: FindingCode, fixCode: FixCode) {
  const source = path.join(casesDir, caseFile);
  const text = readFileSync(source, 'utf8');
  const located = locateModel(text);
  const ctx: FixContext = {
    text,
    format: located.format,
    layers: located.layers,
    options: { steps: 1, batchSize: 4, learningRate: 0.01, optimizer: 'sgd', loss: 'categorical_crossentropy', data: 'synthetic', seed: 1, backend: 'wasm' },
  };
  const fix = planFixes({ code, severity: 'error', message: '', evidence: {}, fixes: [] }, ctx).find((f) => f.code === fixCode);
  assert.ok(fix && fix.edits.length > 0, `${fixCode} applies to ${caseFile}`);
  const dir = mkdtempSync(path.join(workDir, 'case-'));
  cpSync(path.dirname(source), dir, { recursive: true });
  const edited = path.join(dir, path.basename(source));
  writeFileSync(edited, applyEdits(text, fix.edits));

  const loaded = await loadModelFile(edited, { seed: 1 });
  try {
    const [batch, ...inputShape] = [4, ...(loaded.model.inputs[0].shape.slice(1) as number[])];
    const trainer = new Trainer(loaded.model, { optimizer: 'sgd', learningRate: 0.01, loss: 'categorical_crossentropy', seed: 1 });
    const x = tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10).toFloat();
    const loss = trainer.stepPlain(x, y);
    tf.dispose([x, y]);
    trainer.dispose();
    assert.ok(Number.isFinite(loss), `${fixCode} on ${caseFile}: one step gives a finite loss`);
    return loaded;
  } finally {
    loaded.model.dispose();
  }
}

const LAYER_FIXES: Array<[string, FindingCode, FixCode]> = [
  ['vanishing-sigmoid7-k2/keras2.json', 'vanishing-gradient', 'use-relu'],
  ['vanishing-sigmoid7-k2/keras2.json', 'vanishing-gradient', 'add-batch-normalization'],
  ['vanishing-sigmoid7-k2/keras2.json', 'vanishing-gradient', 'use-leaky-relu'],
  ['vanishing-tanh-small-init-k3/keras3.json', 'vanishing-gradient', 'use-relu'],
  ['vanishing-tanh-small-init-k3/keras3.json', 'vanishing-gradient', 'add-batch-normalization'],
  ['vanishing-tanh-small-init-k3/keras3.json', 'vanishing-gradient', 'use-leaky-relu'],
  ['vanishing-tanh-small-init-k3/keras3.json', 'poor-initialization', 'change-initializer'],
  ['saturated-tanh-large-init-tfjs/tfjs/model.json', 'saturated-activation', 'use-relu'],
  ['saturated-tanh-large-init-tfjs/tfjs/model.json', 'vanishing-gradient', 'use-leaky-relu'],
  ['dying-relu-bias-k2/keras2.json', 'dying-relu', 'change-initializer'],
  ['healthy-residual-k2/keras2.json', 'vanishing-gradient', 'add-batch-normalization'],
  ['healthy-residual-k2/keras2.json', 'dying-relu', 'use-leaky-relu'],
  ['healthy-residual-tfjs/tfjs/model.json', 'dying-relu', 'use-leaky-relu'],
];

for (const [file, code, fixCode] of LAYER_FIXES) {
  test(`${fixCode} on ${file} loads in TF.js and trains a step`, async () => {
    await loadEditedAndStep(file, code, fixCode);
  });
}

const TRAINING_FILES = ['dying-relu-bias-k2/keras2.json', 'vanishing-tanh-small-init-k3/keras3.json', 'saturated-tanh-large-init-tfjs/tfjs/model.json'];

for (const file of TRAINING_FILES) {
  test(`training-config fixes on ${file} are read back by the loader`, async () => {
    assert.equal((await loadEditedAndStep(file, 'learning-rate-too-high', 'lower-learning-rate')).trainingConfig?.learningRate, 0.001);
    assert.equal((await loadEditedAndStep(file, 'exploding-gradient', 'clip-gradients')).trainingConfig?.clipNorm, 1);
    const switched = (await loadEditedAndStep(file, 'slow-convergence', 'change-optimizer')).trainingConfig;
    assert.equal(switched?.optimizer, 'adam');
    assert.equal(switched?.learningRate, 0.001);
  });
}
