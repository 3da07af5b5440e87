import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { formatSummary, repoRoot, runFuzz } from './fuzz/harness';
import { loadCorpus } from './fuzz/mutate';
import { runOne } from './fuzz/outcome';

/**
 * A fixed slice of `npm run fuzz`: the same harness (worker process, 10 s watchdog, memory
 * limit) on 400 seeded mutations of every shipped format. Any crash, hang, memory blow-up,
 * non-input exception or unclear message fails the test, and the input is saved under
 * test-output/fuzz-test/ to replay with `node out/test/fuzz/main.js --replay <folder>`.
 */
// The mutations start from these files, so each must train as shipped. The nested Sequential
// inside keras2-functional.json did not: the trainer tapped the nested model's own inner node.
test('every seed of the fuzz corpus trains one step as shipped', async () => {
  for (const seed of loadCorpus(repoRoot)) {
    const outcome = await runOne(path.join(repoRoot, seed.name), 'wasm');
    assert.equal(outcome.kind, 'trained', `${seed.name}: ${JSON.stringify(outcome)}`);
  }
});

const SLICE = { count: 400, seed: 20260409 };

test(`fuzz slice: ${SLICE.count} mutated model files each train or are refused with a clear InputError`, { timeout: 180_000 }, async () => {
  const summary = await runFuzz({ ...SLICE, backend: 'wasm', outDir: path.join(repoRoot, 'test-output/fuzz-test') });
  assert.equal(summary.count, SLICE.count);
  assert.equal(summary.failures.length, 0, formatSummary(summary));
  // The slice must exercise both sides: models that still train, and refusals.
  assert.ok((summary.outcomes['trained'] ?? 0) > 0, formatSummary(summary));
  assert.ok((summary.outcomes['input error'] ?? 0) > 0, formatSummary(summary));
});
