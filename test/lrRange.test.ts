import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { analyseLrRange, DEFAULT_LR_SWEEP, roundRate, smoothLosses, sweepDiverged, sweepRate, type LrSweep } from '../src/shared/lrRange';
import { runLrRangeTest } from '../src/engine/train/lrRange';
import { Trainer } from '../src/engine/train/trainer';
import { seededRandom } from '../src/engine/train/random';
import type { Dataset } from '../src/engine/data/dataset';
import type { ResolvedRunOptions } from '../src/shared/runOptions';

tf.setBackend('cpu');

// ──── the pure analysis ────

test('the sweep is exponential from 1e-6 to 10 over 88 steps: 12.5 steps per decade, as fastai\'s 100 from 1e-7', () => {
  assert.equal(DEFAULT_LR_SWEEP.steps, 88);
  assert.ok(Math.abs(sweepRate(DEFAULT_LR_SWEEP, 0) - 1e-6) < 1e-20);
  assert.ok(Math.abs(sweepRate(DEFAULT_LR_SWEEP, 87) - 10) < 1e-9);
  // Equal ratios between steps: 7 decades over 87 intervals.
  const ratio = sweepRate(DEFAULT_LR_SWEEP, 51) / sweepRate(DEFAULT_LR_SWEEP, 50);
  assert.ok(Math.abs(ratio - Math.pow(1e7, 1 / 87)) < 1e-9);
  assert.ok(Math.abs(Math.log10(ratio) - 8 / 99) < 0.001);
});

test('smoothing is a bias-corrected moving average that stops at the first non-finite loss', () => {
  const smoothed = smoothLosses([2, 2, 2, 2], 0.9);
  for (const s of smoothed) assert.ok(Math.abs(s - 2) < 1e-12, 'a constant stays itself (bias correction)');
  assert.equal(smoothLosses([2, 3, NaN, 1]).length, 2);
  const step = smoothLosses([1, 1, 1, 5], 0.5);
  assert.ok(step[3] > 1 && step[3] < 5, 'a jump is damped');
});

test('the sweep stops once the smoothed loss passes 4× its minimum, or is non-finite, not before', () => {
  const flat = Array.from({ length: 20 }, () => 2.3);
  assert.equal(sweepDiverged(flat), false);
  assert.equal(sweepDiverged([...flat, NaN]), true);
  const falling = Array.from({ length: 30 }, (_, i) => 2.3 - i * 0.07);
  assert.equal(sweepDiverged(falling), false);
  assert.equal(sweepDiverged([...falling, ...Array.from({ length: 30 }, () => 50)]), true);
});

/** A textbook curve: flat at 2.3 for small rates, falling around `center`, exploding past 30× it. */
function textbookCurve(sweep: LrSweep, center: number): Array<{ lr: number; loss: number }> {
  const random = seededRandom(3);
  return Array.from({ length: sweep.steps }, (_, i) => {
    const lr = sweepRate(sweep, i);
    const x = Math.log10(lr / center);
    const fall = 2.3 - 1.8 / (1 + Math.exp(-3 * x));
    const blowUp = x > 1.5 ? Math.pow(10, (x - 1.5) * 2) : 0;
    return { lr, loss: fall + blowUp + (random() - 0.5) * 0.05 };
  });
}

test('on a textbook curve the suggestion sits within half a decade above where the loss falls fastest, and below the minimum', () => {
  for (const center of [1e-4, 3e-3, 0.05]) {
    const raw = textbookCurve(DEFAULT_LR_SWEEP, center);
    const stop = raw.findIndex((_, i) => i > 0 && sweepDiverged(raw.slice(0, i + 1).map((p) => p.loss)));
    const swept = stop >= 0 ? raw.slice(0, stop + 1) : raw;
    const result = analyseLrRange(swept, DEFAULT_LR_SWEEP, 'adam', 0.1, 1, Math.log(10));
    assert.ok(result.suggestedLr !== undefined, JSON.stringify(result.note));
    const factor = Math.max(result.suggestedLr / center, center / result.suggestedLr);
    assert.ok(factor < Math.sqrt(10) * 1.1 && result.suggestedLr >= center / 2, `center ${center}: suggested ${result.suggestedLr}`);
    assert.ok(result.suggestedLr <= result.minLossLr);
    assert.ok(result.goodRange && result.goodRange.low <= result.minLossLr && result.minLossLr <= result.goodRange.high);
    assert.ok(result.relativeFall > 0.5);
  }
});

test('a loss that never falls (or never below chance level) gets no suggestion, and says why', () => {
  const random = seededRandom(5);
  const flat = Array.from({ length: 100 }, (_, i) => ({ lr: sweepRate(DEFAULT_LR_SWEEP, i), loss: 2.3 + (random() - 0.5) * 0.02 }));
  const result = analyseLrRange(flat, DEFAULT_LR_SWEEP, 'adam', 1e-3, 1);
  assert.equal(result.suggestedLr, undefined);
  assert.match(result.note ?? '', /never fell/);
  // Falling from 2.6 to ln 10 is learning the output bias, not training: no rate trains it.
  const toChance = flat.map((p, i) => ({ ...p, loss: 2.6 - (0.3 * i) / 99 }));
  assert.ok(analyseLrRange(toChance, DEFAULT_LR_SWEEP, 'adam', 1e-3, 1).suggestedLr !== undefined, 'without a chance level the fall counts');
  const atChance = analyseLrRange(toChance, DEFAULT_LR_SWEEP, 'adam', 1e-3, 1, Math.log(10));
  assert.equal(atChance.suggestedLr, undefined);
  assert.match(atChance.note ?? '', /chance level/);
});

test('rates are rounded to 1, 1.5, 2, 2.5, 3 … × a power of ten', () => {
  assert.equal(roundRate(0.0026), 0.0025);
  assert.equal(roundRate(0.021544), 0.02);
  assert.equal(roundRate(1.32e-3), 1.5e-3);
  assert.equal(roundRate(0.097), 0.1);
  assert.equal(roundRate(7.2e-5), 7e-5);
});

// ──── the TF.js sweep ────

function tinyNet(seed: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'conv', inputShape: [6, 6, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed }) }),
      tf.layers.batchNormalization({ name: 'bn' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ name: 'head', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

/** Three classes told apart by which third of the image is bright: learnable in a few dozen steps. */
function stripes(size = 96): Dataset {
  const random = seededRandom(11);
  const x = new Float32Array(size * 36);
  const y = new Int32Array(size);
  for (let n = 0; n < size; n++) {
    y[n] = n % 3;
    for (let i = 0; i < 36; i++) x[n * 36 + i] = (Math.floor((i % 6) / 2) === y[n] ? 1 : 0) + (random() - 0.5) * 0.3;
  }
  return { name: 'stripes', inputShape: [6, 6, 1], numClasses: 3, size, x, y, fromBytes: false };
}

const options = (optimizer: ResolvedRunOptions['optimizer'], learningRate: number): ResolvedRunOptions => ({
  steps: 60,
  batchSize: 16,
  learningRate,
  optimizer,
  loss: 'categorical_crossentropy',
  data: 'stripes',
  seed: 7,
  backend: 'cpu',
});

test('the TF.js range test puts every weight back, repeats for a seed, and finds a rate that trains the net', async () => {
  const model = tinyNet(1);
  const before = model.getWeights().map((w) => Array.from(w.dataSync()));
  const sweep: LrSweep = { startLr: 1e-5, endLr: 10, steps: 60 };
  const first = await runLrRangeTest(model, stripes(), options('adam', 1e-3), { sweep }, Math.log(3));
  const after = model.getWeights().map((w) => Array.from(w.dataSync()));
  assert.deepEqual(after, before, 'weights, and BatchNorm moving statistics, restored');
  const second = await runLrRangeTest(model, stripes(), options('adam', 1e-3), { sweep }, Math.log(3));
  assert.deepEqual(second.points.map((p) => p.loss), first.points.map((p) => p.loss));
  assert.ok(first.suggestedLr !== undefined, first.note);
  assert.ok(first.suggestedLr > 1e-4 && first.suggestedLr < 1, `suggested ${first.suggestedLr}`);
  assert.ok(first.points.every((p, i) => i === 0 || p.lr > first.points[i - 1].lr));
  model.dispose();
});

test('setLearningRate changes the rate of the next step (SGD keeps it in a scalar, Adam in a field)', () => {
  for (const optimizer of ['sgd', 'adam'] as const) {
    const model = tinyNet(2);
    const data = stripes(16);
    const x = tf.tensor4d(data.x, [16, 6, 6, 1]);
    const y = tf.oneHot(tf.tensor1d(Array.from(data.y), 'int32'), 3).toFloat();
    const trainer = new Trainer(model, { optimizer, learningRate: 0.1, loss: 'categorical_crossentropy', seed: 1 });
    const kernel = () => Array.from(model.getLayer('head').getWeights()[0].dataSync());
    const start = kernel();
    trainer.setLearningRate(0);
    trainer.stepPlain(x, y);
    assert.deepEqual(kernel(), start, `${optimizer}: a zero rate leaves the weights`);
    trainer.setLearningRate(0.1);
    trainer.stepPlain(x, y);
    assert.notDeepEqual(kernel(), start, `${optimizer}: the rate is back`);
    trainer.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
});
