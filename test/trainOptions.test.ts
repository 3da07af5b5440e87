import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveRunOptions } from '../src/engine/train/options';
import { InputError, UsageError } from '../src/engine/errors';

test('run options come first, then the file training config, then defaults', () => {
  const file = { optimizer: 'SGD', learningRate: 0.05, loss: 'mse', clipNorm: 1 };
  const warnings: string[] = [];
  const fromFile = resolveRunOptions({}, file, 'model.json', 'cpu', warnings);
  assert.deepEqual(fromFile, { steps: 100, batchSize: 32, learningRate: 0.05, optimizer: 'sgd', loss: 'mse', data: 'auto', seed: 42, backend: 'cpu', clipNorm: 1 });
  const fromOptions = resolveRunOptions({ optimizer: 'adam', learningRate: 0.003, loss: 'categorical_crossentropy', steps: 7, seed: 3 }, file, 'model.json', 'wasm', warnings);
  assert.equal(fromOptions.optimizer, 'adam');
  assert.equal(fromOptions.learningRate, 0.003);
  assert.equal(fromOptions.loss, 'categorical_crossentropy');
  assert.equal(fromOptions.steps, 7);
  assert.deepEqual(warnings, []);
  const defaults = resolveRunOptions({ optimizer: 'adadelta' }, undefined, 'model.json', 'cpu', warnings);
  assert.equal(defaults.learningRate, 1.0);
  assert.equal(defaults.loss, 'categorical_crossentropy');
});

test('an optimizer the engine lacks becomes a warning; an unknown loss in the file is an input error naming it', () => {
  const warnings: string[] = [];
  assert.equal(resolveRunOptions({}, { optimizer: 'Nadam' }, 'model.json', 'cpu', warnings).optimizer, 'adam');
  assert.match(warnings[0], /Nadam/);
  assert.throws(() => resolveRunOptions({}, { loss: 'hinge' }, 'model.json', 'cpu', []), (error: unknown) => error instanceof InputError && /model\.json: unknown loss "hinge"/.test(error.message));
  assert.throws(() => resolveRunOptions({ steps: 0 }, undefined, 'model.json', 'cpu', []), UsageError);
  assert.throws(() => resolveRunOptions({ batchSize: 2.5 }, undefined, 'model.json', 'cpu', []), UsageError);
});

test('threshold overrides are carried to the diagnosis; unknown names and out-of-range values are usage errors', () => {
  const resolved = resolveRunOptions({ thresholds: { vanishingRatio: 1e-4 } }, undefined, 'model.json', 'cpu', []);
  assert.deepEqual(resolved.thresholds, { vanishingRatio: 1e-4 });
  assert.equal(resolveRunOptions({}, undefined, 'model.json', 'cpu', []).thresholds, undefined);
  assert.throws(() => resolveRunOptions({ thresholds: { deadFraction: 1.5 } }, undefined, 'model.json', 'cpu', []), (e: unknown) => e instanceof UsageError && /deadFraction must be a positive number up to 1, got 1.5/.test(e.message));
  const unknown = { thresholds: { lossWindowSteps: 3 } } as unknown as Parameters<typeof resolveRunOptions>[0];
  assert.throws(() => resolveRunOptions(unknown, undefined, 'model.json', 'cpu', []), (e: unknown) => e instanceof UsageError && /unknown threshold "lossWindowSteps"/.test(e.message));
});
