import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';
import { REFERENCE_CLASSES, REFERENCE_INPUT_SHAPE, REFERENCE_NETWORKS, type ReferenceNetwork } from '../src/engine/reference/networks';
import { findTorch, runTorchScript, TORCH_INSTALL_HINT } from '../src/engine/reference/torchPeer';
import { planForward } from '../src/engine/train/forwardPlan';
import { computeLoss } from '../src/engine/train/losses';
import { seededRandom } from '../src/engine/train/random';
import { Trainer } from '../src/engine/train/trainer';

// Same weights, same batch → the engine's per-weight gradients equal PyTorch's (float64, so
// the reference adds no rounding of its own). Relative error ‖a−b‖/max(‖b‖, tiny). PyTorch
// follows the engine's ReLU decisions: a ReLU input within float32 rounding of 0 otherwise
// flips a full-size gradient (measured: 2 of 100k elements in the BatchNorm net on wasm gave
// 0.5–2.5 % errors in every layer below), which would compare rounding luck, not the backward pass.
const repoRoot = path.resolve(__dirname, '../..');
const torch = findTorch();
const skip = torch ? false : TORCH_INSTALL_HINT;
const BACKENDS = ['cpu', 'wasm'] as const;
const BATCH_SIZE = 8;
const SEED = 7;
const TOLERANCE = 1e-4;
// Normalising by batch statistics subtracts nearly equal numbers: float32 loses more there.
const BATCH_NORM_TOLERANCE = 1e-3;
const TINY = 1e-30;

interface SerializedTensor {
  shape: number[];
  data: number[];
}

interface Case {
  network: ReferenceNetwork;
  weights: Array<{ name: string; shape: number[]; values: Float32Array }>;
  x: Float32Array;
  labels: number[];
}

interface TorchResult {
  network: string;
  loss: number;
  gradients: Record<string, SerializedTensor>;
}

function makeCase(network: ReferenceNetwork, index: number): Case {
  const model = network.build(SEED + index);
  const weights = model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[], values: w.read().dataSync() as Float32Array }));
  model.dispose();
  const random = seededRandom(SEED * 100 + index);
  const x = Float32Array.from({ length: BATCH_SIZE * 28 * 28 }, () => random());
  const labels = Array.from({ length: BATCH_SIZE }, () => Math.floor(random() * REFERENCE_CLASSES));
  return { network, weights, x, labels };
}

/** The ReLU outputs' sign pattern on the active backend, which the reference then follows (networks.py, ReferenceNet). */
function engineReluMasks(c: Case): Record<string, { shape: number[]; bits: string }> {
  const model = buildWithWeights(c);
  const reluLayers = model.layers.filter((layer) => layer.getConfig()['activation'] === 'relu');
  const masks: Record<string, { shape: number[]; bits: string }> = {};
  if (reluLayers.length > 0) {
    const tap = tf.model({ inputs: model.inputs, outputs: reluLayers.map((layer) => layer.output as tf.SymbolicTensor) });
    const { x } = batchTensors(c);
    const outputs = [tap.apply(x, { training: true })].flat() as tf.Tensor[];
    reluLayers.forEach((layer, i) => {
      const values = outputs[i].dataSync();
      masks[layer.name] = { shape: outputs[i].shape, bits: Array.from(values, (v) => (v > 0 ? '1' : '0')).join('') };
    });
    tf.dispose([x, ...outputs]);
  }
  model.dispose();
  return masks;
}

/** PyTorch's gradients for every case, following the ReLU decisions the engine makes on `backend`. */
async function torchGradients(backend: (typeof BACKENDS)[number]): Promise<Map<string, TorchResult>> {
  await selectBackend(backend);
  const request = cases.map((c) => ({
    network: c.network.name,
    weights: Object.fromEntries(c.weights.map((w) => [w.name, { shape: w.shape, data: Array.from(w.values) }])),
    x: { shape: [BATCH_SIZE, ...REFERENCE_INPUT_SHAPE], data: Array.from(c.x) },
    labels: c.labels,
    trainable: trainableNames(c),
    reluMasks: engineReluMasks(c),
  }));
  const results = JSON.parse(runTorchScript(torch!, repoRoot, 'reference_gradients.py', [], JSON.stringify(request))) as TorchResult[];
  return new Map(results.map((r) => [r.network, r]));
}

function trainableNames(c: Case): string[] {
  return c.weights.map((w) => w.name).filter((name) => !/moving_(mean|variance)$/.test(name));
}

/** The model on the active backend, holding the case's weights. */
function buildWithWeights(c: Case): tf.LayersModel {
  const model = c.network.build(SEED);
  model.setWeights(c.weights.map((w) => tf.tensor(w.values, w.shape)));
  return model;
}

function batchTensors(c: Case): { x: tf.Tensor; y: tf.Tensor } {
  const x = tf.tensor(c.x, [BATCH_SIZE, ...REFERENCE_INPUT_SHAPE]);
  const y = tf.oneHot(tf.tensor1d(c.labels, 'int32'), REFERENCE_CLASSES).toFloat();
  return { x, y };
}

function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), TINY);
}

function l2(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] ** 2;
  return Math.sqrt(sum);
}

let cases: Case[] = [];
const references = new Map<string, Promise<Map<string, TorchResult>>>();

function referenceFor(backend: (typeof BACKENDS)[number]): Promise<Map<string, TorchResult>> {
  if (!references.has(backend)) references.set(backend, torchGradients(backend));
  return references.get(backend)!;
}

before(async () => {
  if (!torch) return;
  await selectBackend('cpu');
  cases = REFERENCE_NETWORKS.map((network, i) => makeCase(network, i));
});

for (const backend of BACKENDS) {
  REFERENCE_NETWORKS.forEach((network, index) => {
    const tolerance = network.name.includes('bn') ? BATCH_NORM_TOLERANCE : TOLERANCE;

    test(`${backend}: ${network.name} gradients equal PyTorch's (relative ${tolerance})`, { skip }, async (t) => {
      const expected = (await referenceFor(backend)).get(network.name)!;
      await selectBackend(backend);
      const c = cases[index];
      const model = buildWithWeights(c);
      const { x, y } = batchTensors(c);
      // As the Trainer computes them: its forward plan (logits), its loss, training mode.
      const plan = planForward(model, 'categorical_crossentropy');
      const { value, grads } = tf.variableGrads(() => {
        const output = plan.plainModel.apply(x, { training: true }) as tf.Tensor;
        return computeLoss('categorical_crossentropy', y, output, plan.fromLogits);
      }, plan.trainableVariables);

      const loss = value.dataSync()[0];
      assert.ok(Math.abs(loss - expected.loss) <= tolerance * Math.abs(expected.loss), `loss ${loss} vs PyTorch ${expected.loss}`);
      const mismatches: string[] = [];
      let worst = { error: 0, weight: '' };
      model.trainableWeights.forEach((weight, i) => {
        const gradient = grads[plan.trainableVariables[i].name];
        const torchGradient = expected.gradients[weight.originalName];
        assert.deepEqual(gradient.shape, torchGradient.shape, `${weight.originalName} shape`);
        const error = relativeError(gradient.dataSync(), torchGradient.data);
        if (error > worst.error) worst = { error, weight: weight.originalName };
        if (!(error <= tolerance)) mismatches.push(`${weight.originalName}: relative error ${error.toExponential(2)} (‖g‖ = ${l2(torchGradient.data).toExponential(2)})`);
      });
      t.diagnostic(`largest relative error ${worst.error.toExponential(2)} (${worst.weight})`);
      assert.deepEqual(mismatches, [], `gradients differ from PyTorch's on ${backend}`);
      tf.dispose([value, x, y]);
      tf.dispose(grads);
      model.dispose();
    });

    test(`${backend}: ${network.name} Trainer statistics carry PyTorch's per-layer gradient norms`, { skip }, async () => {
      const expected = (await referenceFor(backend)).get(network.name)!;
      await selectBackend(backend);
      const c = cases[index];
      const model = buildWithWeights(c);
      const { x, y } = batchTensors(c);
      const trainer = new Trainer(model, { optimizer: 'adam', learningRate: 1e-3, loss: 'categorical_crossentropy', seed: SEED });
      const stats = trainer.stepInstrumented(x, y, 0);
      assert.ok(stats.layers.length > 0);
      for (const layer of stats.layers) {
        const torchGradient = expected.gradients[`${layer.layer}/kernel`] ?? expected.gradients[`${layer.layer}/gamma`];
        const torchNorm = l2(torchGradient.data);
        assert.ok(Math.abs(layer.gradL2 - torchNorm) <= tolerance * Math.max(torchNorm, TINY), `${layer.layer}: gradient L2 ${layer.gradL2} vs PyTorch ${torchNorm}`);
      }
      trainer.dispose();
      tf.dispose([x, y]);
      model.dispose();
    });
  });
}
