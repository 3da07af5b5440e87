// A Keras model that starts with Rescaling(1./255) is fed pixel bytes 0–255, as Keras users
// feed it; every other model gets them scaled to [0, 1].
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { selectBackend } from '../src/engine/backend';
import { loadDataset } from '../src/engine/data/load';
import { loadModelFile } from '../src/engine/model/load';
import { dataForModel, rescalesPixelBytes } from '../src/engine/train/trainLoaded';
import { runCli } from './cliHarness';

const folder = mkdtempSync(path.join(tmpdir(), 'gradient-lens-rescaling-'));
after(() => rmSync(folder, { recursive: true, force: true }));

function modelFile(name: string, firstLayers: object[]): string {
  const layers = [
    { class_name: 'InputLayer', config: { batch_input_shape: [null, 28, 28, 1], dtype: 'float32', name: 'input_1' } },
    ...firstLayers,
    { class_name: 'Conv2D', config: { name: 'conv2d', filters: 4, kernel_size: [3, 3], activation: 'relu', padding: 'valid' } },
    { class_name: 'Flatten', config: { name: 'flatten' } },
    { class_name: 'Dense', config: { name: 'dense', units: 10, activation: 'softmax' } },
  ];
  const file = path.join(folder, name);
  writeFileSync(file, JSON.stringify({ class_name: 'Sequential', config: { name: 'sequential', layers } }, null, 2));
  return file;
}

const rescaled = modelFile('rescaled.json', [{ class_name: 'Rescaling', config: { name: 'rescaling', scale: 1 / 255, offset: 0.0 } }]);
const plain = modelFile('plain.json', []);
const centred = modelFile('centred.json', [{ class_name: 'Rescaling', config: { name: 'rescaling', scale: 1 / 127.5, offset: -1 } }]);

function largest(values: Float32Array): number {
  return values.reduce((max, v) => Math.max(max, v), 0);
}

test('pixel bytes go to a Rescaling(1/255) model as 0–255, to other models as [0, 1]; synthetic data is left alone', async () => {
  await selectBackend('cpu');
  const fashion = await loadDataset('fashion-mnist', [28, 28, 1], 10, 42);
  assert.ok(fashion.fromBytes);
  const synthetic = await loadDataset('synthetic', [28, 28, 1], 10, 42);
  for (const [file, expectRescaling] of [[rescaled, true], [plain, false], [centred, false]] as const) {
    const loaded = await loadModelFile(file, { seed: 1 });
    assert.equal(rescalesPixelBytes(loaded.model), expectRescaling, path.basename(file));
    const fed = dataForModel(fashion, loaded.model);
    assert.ok(Math.abs(largest(fed.x) - (expectRescaling ? 255 : 1)) < 1e-3, `${path.basename(file)}: largest input ${largest(fed.x)}`);
    assert.equal(dataForModel(synthetic, loaded.model), synthetic);
    loaded.model.dispose();
  }
  assert.ok(Math.abs(largest(fashion.x) - 1) < 1e-6, 'the loaded data set itself is not changed');
});

test('the CLI trains a Rescaling model on pixel bytes and says so in the report', () => {
  const result = runCli(['analyze', rescaled, '--steps', '3', '--format', 'json']);
  assert.ok(result.status === 0 || result.status === 1, result.stderr);
  const report = JSON.parse(result.stdout) as { run: { data: string }; history: { loss: number[] } };
  assert.match(report.run.data, /^fashion-mnist \(pixels 0–255/);
  assert.ok(report.history.loss.every(Number.isFinite));
});
