import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { repoRoot, runCli } from './cliHarness';
import { InputError } from '../src/engine/errors';
import { loadModelFile } from '../src/engine/model/load';
import { applyEdits, planFixes } from '../src/shared/fixes/index';
import type { Finding } from '../src/shared/findings';
import type { Report } from '../src/shared/report';
import { isKerasSource } from '../src/engine/keras/kerasPython';
import { findKerasSourceBeside } from '../src/engine/keras/kerasSource';
import { isBinaryKerasPath, isKerasModelText } from '../src/host/pythonModel';

// Keras model source files, exported by real Keras in the project's venv (scripts/setup-python.sh
// installs keras and h5py there; KERAS_BACKEND=numpy builds the model).
const VENV_PYTHON = path.join(process.env.GRADIENT_LENS_VENV ?? path.join(repoRoot, '.cache/venv'), 'bin/python');
const SEQUENTIAL = path.join(repoRoot, 'samples/keras/vanishing_sequential.py');
const FUNCTIONAL = path.join(repoRoot, 'samples/keras/vanishing_functional.py');

tf.setBackend('cpu');

function hasKeras(): boolean {
  return existsSync(VENV_PYTHON) && spawnSync(VENV_PYTHON, ['-c', 'import keras'], { timeout: 120_000, env: { ...process.env, KERAS_BACKEND: 'numpy' } }).status === 0;
}

// npm test's pre-step installs the venv (scripts/setup-tests.sh): no Keras there is a failed set-up, not a skip.
const ready = () => assert.ok(hasKeras(), `${VENV_PYTHON} has no keras: run scripts/setup-python.sh (npm test does)`);

/** 0-based line of the first line containing `needle`, searching from line `from`. */
function lineOf(file: string, needle: string, from = 0): number {
  const lines = readFileSync(file, 'utf8').split('\n');
  const index = lines.findIndex((line, i) => i >= from && line.includes(needle));
  assert.ok(index >= 0, `${needle} not in ${file}`);
  return index;
}

test('a Sequential .py: every layer lands on its constructor call, in the list and in the helper function', async () => {
  ready();
  const loaded = await loadModelFile(SEQUENTIAL, { python: VENV_PYTHON, seed: 3 });
  try {
    assert.equal(loaded.format, 'keras-python');
    const byName = new Map(loaded.layers.map((l) => [l.name, l]));
    const listed = lineOf(SEQUENTIAL, 'layers.Conv2D(8, 3, padding="same", activation="sigmoid"),');
    assert.equal(byName.get('conv2d')?.range.start.line, listed);
    assert.equal(byName.get('conv2d')?.range.start.character, 8);
    // Built by conv(filters) in a comprehension: the helper's own layers.Conv2D(...) call.
    const helper = lineOf(SEQUENTIAL, 'return layers.Conv2D(');
    for (const name of ['conv2d_1', 'conv2d_4', 'conv2d_9']) assert.equal(byName.get(name)?.range.start.line, helper, name);
    assert.equal(byName.get('max_pooling2d')?.range.start.line, lineOf(SEQUENTIAL, 'layers.MaxPooling2D(2)'));
    assert.equal(byName.get('dense')?.range.start.line, lineOf(SEQUENTIAL, 'layers.Dense(10'));
    assert.equal(loaded.trainingConfig?.learningRate, 0.001);
    assert.equal(loaded.model.countParams(), 9266);
  } finally {
    loaded.model.dispose();
  }
});

test('a functional .py: x = layers.Conv2D(...)(x) chains, also in loops, each on its own call; --entry picks a model by name', async () => {
  ready();
  const loaded = await loadModelFile(FUNCTIONAL, { python: VENV_PYTHON, entry: 'model' });
  try {
    const byName = new Map(loaded.layers.map((l) => [l.name, l]));
    assert.equal(byName.get('conv2d')?.range.start.line, lineOf(FUNCTIONAL, 'layers.Conv2D(8, 3, padding="same", activation="sigmoid")(inputs)'));
    const firstLoop = lineOf(FUNCTIONAL, 'x = layers.Conv2D(8, 3, padding="same", activation="sigmoid")(x)');
    const secondLoop = lineOf(FUNCTIONAL, 'x = layers.Conv2D(8, 3, padding="same", activation="sigmoid")(x)', firstLoop + 1);
    assert.equal(byName.get('conv2d_1')?.range.start.line, firstLoop);
    assert.equal(byName.get('conv2d_9')?.range.start.line, secondLoop);
    assert.equal(byName.get('predictions')?.range.start.line, lineOf(FUNCTIONAL, 'layers.Dense(10'));
    assert.equal(byName.get('image')?.range.start.line, lineOf(FUNCTIONAL, 'keras.Input('));
  } finally {
    loaded.model.dispose();
  }
});

for (const [label, file] of [
  ['Sequential', SEQUENTIAL],
  ['functional', FUNCTIONAL],
] as const) {
  test(`analyze a ${label} Keras .py: vanishing-gradient at the first conv, on its layers.Conv2D( line; --verify-fixes shows the fix working`, { timeout: 300_000 }, () => {
    ready();
    const run = runCli(['analyze', file, '--python', VENV_PYTHON, '--steps', '40', '--backend', 'wasm', '--verify-fixes', '--format', 'json'], 300_000);
    assert.equal(run.status, 1, run.stderr);
    const report = JSON.parse(run.stdout) as Report;
    assert.equal(report.model.format, 'keras-python');
    const vanishing = report.findings.find((f) => f.code === 'vanishing-gradient');
    assert.ok(vanishing, JSON.stringify(report.findings.map((f) => f.code)));
    assert.equal(vanishing.layer, 'conv2d');
    const layer = report.model.layers.find((l) => l.name === 'conv2d');
    const text = readFileSync(file, 'utf8').split('\n')[layer!.range.start.line];
    assert.match(text.slice(layer!.range.start.character), /^layers\.Conv2D\(/);
    assert.equal(vanishing.fixes[0].code, 'use-relu');
    const verification = report.verifications?.find((v) => v.findingCode === 'vanishing-gradient');
    assert.ok(verification && !verification.error, JSON.stringify(report.verifications));
    assert.ok(verification.after.firstLastRatio > 1000 * verification.before.firstLastRatio, JSON.stringify(verification));
    assert.ok(!verification.remaining.includes('vanishing-gradient'));
  });
}

// ──── fix planners on the Python source ────

function finding(layer: string): Finding {
  return { code: 'vanishing-gradient', severity: 'error', layer, message: '', evidence: {}, fixes: [] };
}

test('Keras .py fixes: ReLU, BatchNormalization after the conv (Sequential list and functional chain), initializer, learning_rate — and the edited file still builds', async () => {
  ready();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-keras-py-'));
  try {
    for (const file of [SEQUENTIAL, FUNCTIONAL]) {
      const loaded = await loadModelFile(file, { python: VENV_PYTHON });
      loaded.model.dispose();
      const text = loaded.kerasPython!.source;
      const ctx = {
        text,
        format: 'keras-python' as const,
        layers: loaded.layers,
        options: { steps: 10, batchSize: 8, learningRate: 0.001, optimizer: 'adam' as const, loss: 'sparse_categorical_crossentropy', data: 'synthetic', seed: 1, backend: 'cpu' },
        kerasPython: { modelPath: loaded.path, sites: loaded.kerasPython!.sites },
      };
      const fixes = planFixes(finding('conv2d'), ctx);
      const byCode = new Map(fixes.map((f) => [f.code, f]));
      assert.deepEqual([...byCode.keys()], ['use-relu', 'add-batch-normalization', 'change-initializer'], path.basename(file));

      const relu = applyEdits(text, byCode.get('use-relu')!.edits);
      assert.equal((relu.match(/Conv2D\([^)]*activation="sigmoid"/g) ?? []).length, 0, 'every hidden sigmoid call switched');
      assert.ok((relu.match(/Conv2D\([^)]*activation="relu"/g) ?? []).length >= 2);
      assert.match(relu, /layers\.Dense\(10, activation="softmax"/, 'the classifier keeps its softmax');

      const withBn = applyEdits(text, byCode.get('add-batch-normalization')!.edits);
      if (file === FUNCTIONAL) {
        assert.match(withBn, /x = layers\.Conv2D\(8, 3, padding="same", activation="sigmoid"\)\(inputs\)\nx = layers\.BatchNormalization\(\)\(x\)\n/);
        assert.match(withBn, /    x = layers\.Conv2D\(8, 3, padding="same", activation="sigmoid"\)\(x\)\n    x = layers\.BatchNormalization\(\)\(x\)\n/);
      } else {
        assert.match(withBn, /layers\.Conv2D\(8, 3, padding="same", activation="sigmoid"\),\n        layers\.BatchNormalization\(\),\n/);
      }
      // The edited source is what Keras builds: BatchNormalization now follows the first conv.
      const edited = path.join(dir, path.basename(file));
      writeFileSync(edited, withBn);
      const rebuilt = await loadModelFile(edited, { python: VENV_PYTHON });
      try {
        const classes = rebuilt.layers.map((l) => l.className);
        assert.equal(classes[classes.indexOf('Conv2D') + 1], 'BatchNormalization', classes.join(', '));
      } finally {
        rebuilt.model.dispose();
      }

      const initialised = applyEdits(text, byCode.get('change-initializer')!.edits);
      assert.match(initialised, /activation="sigmoid", kernel_initializer="lecun_normal"\)/);

      const lower = planFixes({ ...finding('conv2d'), code: 'learning-rate-too-high' }, ctx).find((f) => f.code === 'lower-learning-rate');
      assert.ok(lower, 'a lower-learning-rate fix');
      assert.match(applyEdits(text, lower.edits), /optimizer=keras\.optimizers\.Adam\(learning_rate=0\.0001\)/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ──── bad input ────

async function refused(source: string, problem: RegExp, options: { python?: string; entry?: string; importTimeoutSeconds?: number } = {}): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-keras-py-'));
  const file = path.join(dir, 'model.py');
  writeFileSync(file, source);
  try {
    await assert.rejects(loadModelFile(file, { python: VENV_PYTHON, ...options }), (error: unknown) => {
      assert.ok(error instanceof InputError, String(error));
      assert.ok(error.message.startsWith(`${file}: `), error.message);
      assert.match(error.message, problem);
      assert.equal(error.message.split('\n').length, 1, 'one line');
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('bad Keras .py files: raising while building, no model, a subclassed model, Keras not importable, a wrong --entry', async () => {
  ready();
  await refused('import keras\nfrom keras import layers\n\nmodel = keras.Sequential([layers.Dense(4)])\nraise ValueError("boom while building")\n', /importing the file raised ValueError: boom while building on line 5/);
  await refused('import keras\n\nx = 1\n', /builds no Keras model at module level/);
  await refused(
    'import keras\nfrom keras import layers\n\nclass Net(keras.Model):\n    def __init__(self):\n        super().__init__()\n        self.d = layers.Dense(2)\n\n    def call(self, x):\n        return self.d(x)\n\nmodel = Net()\n',
    /Net is a subclassed keras\.Model .*keras\.Sequential|functional API/,
  );
  await refused('import keras\nfrom keras import layers\nmodel = keras.Sequential([keras.Input((4,)), layers.Dense(2)])\n', /\/usr\/bin\/python3 cannot import keras.*pip install keras/, { python: '/usr/bin/python3' });
  await refused('import keras\nfrom keras import layers\nmodel = keras.Sequential([keras.Input((4,)), layers.Dense(2)])\n', /has no 'build' \(--entry\); module-level models: model/, { entry: 'build' });
});

test('which .py is a Keras model file: Keras imports and a model built, no torch (host and engine agree)', () => {
  const keras = readFileSync(SEQUENTIAL, 'utf8');
  const functional = readFileSync(FUNCTIONAL, 'utf8');
  const torch = readFileSync(path.join(repoRoot, 'samples/pytorch/vanishing_sigmoid.py'), 'utf8');
  for (const text of [keras, functional, 'from tensorflow import keras\nmodel = keras.Sequential([])\n']) {
    assert.equal(isKerasModelText(text), true, text.slice(0, 60));
    assert.equal(isKerasSource(text), true);
  }
  assert.equal(isKerasModelText(torch), false);
  assert.equal(isKerasSource(torch), false);
  // A PyTorch file that also imports keras (for a metric, say) stays PyTorch.
  assert.equal(isKerasSource(`import keras\n${torch}`), false);
  assert.equal(isBinaryKerasPath('/w/model.keras'), true);
  assert.equal(isBinaryKerasPath('/w/MODEL.H5'), true);
  assert.equal(isBinaryKerasPath('/w/model.json'), false);
});

test('Keras .py: --entry names a zero-argument function that builds the model; a file that never finishes hits the time limit', async () => {
  ready();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-keras-py-'));
  try {
    const file = path.join(dir, 'build.py');
    writeFileSync(file, 'import keras\nfrom keras import layers\n\ndef build():\n    return keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(2, 3, activation="tanh"), layers.Flatten(), layers.Dense(3, activation="softmax")])\n');
    const loaded = await loadModelFile(file, { python: VENV_PYTHON, entry: 'build' });
    try {
      assert.deepEqual(loaded.layers.map((l) => l.className), ['InputLayer', 'Conv2D', 'Flatten', 'Dense']);
      assert.equal(loaded.layers[1].range.start.line, 4);
    } finally {
      loaded.model.dispose();
    }
    const started = Date.now();
    await refused('import keras\nwhile True:\n    pass\n', /did not finish within 2 s/, { importTimeoutSeconds: 2 });
    assert.ok(Date.now() - started < 60_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a .keras file with the .py that builds it (--source): markers go to the layers.X(...) calls there; a .py of another model leaves them, with a warning', { timeout: 300_000 }, () => {
  ready();
  const keras = path.join(repoRoot, 'test/fixtures/keras/vanishing_sequential.keras');
  const run = runCli(['analyze', keras, '--source', SEQUENTIAL, '--python', VENV_PYTHON, '--steps', '5', '--format', 'json'], 300_000);
  assert.ok(run.status === 0 || run.status === 1, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  const conv = report.model.layers.find((l) => l.name === 'conv2d')!;
  assert.equal(conv.file, SEQUENTIAL);
  assert.equal(conv.range.start.line, lineOf(SEQUENTIAL, 'layers.Conv2D(8, 3, padding="same", activation="sigmoid"),'));
  assert.equal(report.model.layers.find((l) => l.name === 'conv2d_5')!.range.start.line, lineOf(SEQUENTIAL, 'return layers.Conv2D('));
  assert.deepEqual(report.model.weights, { kind: 'trained', file: keras });

  const other = runCli(['analyze', path.join(repoRoot, 'test/fixtures/keras/small_bn.keras'), '--source', SEQUENTIAL, '--python', VENV_PYTHON, '--steps', '2', '--format', 'json'], 300_000);
  const otherReport = JSON.parse(other.stdout) as Report;
  assert.ok(otherReport.model.layers.every((l) => l.file === undefined));
  assert.ok(otherReport.warnings?.some((w) => /builds a different model/.test(w)), JSON.stringify(otherReport.warnings));
});

test('the .py beside a .keras file: the one of the same stem, else the only Keras model source; several and none of the same stem choose none', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gl-beside-'));
  try {
    const model = path.join(dir, 'vanishing.keras');
    writeFileSync(model, '');
    writeFileSync(path.join(dir, 'helpers.py'), 'import keras\n\ndef scale(x):\n    return x * 2\n');
    writeFileSync(path.join(dir, 'torch_net.py'), 'import torch\nfrom torch import nn\nnet = nn.Sequential(nn.Linear(2, 2))\n');
    assert.equal(findKerasSourceBeside(model).file, undefined, 'neither a utility module nor a torch file builds the Keras model');
    assert.equal(findKerasSourceBeside(model).ambiguous, undefined);

    writeFileSync(path.join(dir, 'build.py'), readFileSync(SEQUENTIAL, 'utf8'));
    assert.equal(findKerasSourceBeside(model).file, path.join(dir, 'build.py'));

    writeFileSync(path.join(dir, 'other.py'), readFileSync(FUNCTIONAL, 'utf8'));
    const several = findKerasSourceBeside(model);
    assert.equal(several.file, undefined);
    assert.equal(several.ambiguous, true);
    assert.match(several.why, /2 \.py files .*build\.py, other\.py.*--source/);

    writeFileSync(path.join(dir, 'vanishing.py'), readFileSync(FUNCTIONAL, 'utf8'));
    assert.equal(findKerasSourceBeside(model).file, path.join(dir, 'vanishing.py'));
    assert.equal(findKerasSourceBeside(path.join(dir, 'vanishing.h5')).file, path.join(dir, 'vanishing.py'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a .keras file with its .py beside it and no --source: the markers go to the .py, found by its name', { timeout: 300_000 }, () => {
  ready();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gl-beside-run-'));
  try {
    const keras = path.join(dir, 'vanishing_sequential.keras');
    const source = path.join(dir, 'vanishing_sequential.py');
    writeFileSync(keras, readFileSync(path.join(repoRoot, 'test/fixtures/keras/vanishing_sequential.keras')));
    writeFileSync(source, readFileSync(SEQUENTIAL, 'utf8'));
    writeFileSync(path.join(dir, 'functional.py'), readFileSync(FUNCTIONAL, 'utf8'));
    const run = runCli(['analyze', keras, '--python', VENV_PYTHON, '--steps', '5', '--format', 'json'], 300_000);
    assert.ok(run.status === 0 || run.status === 1, run.stderr);
    const report = JSON.parse(run.stdout) as Report;
    const conv = report.model.layers.find((l) => l.name === 'conv2d')!;
    assert.equal(conv.file, source);
    assert.equal(conv.range.start.line, lineOf(source, 'layers.Conv2D(8, 3, padding="same", activation="sigmoid"),'));
    assert.deepEqual(report.model.weights, { kind: 'trained', file: keras });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
