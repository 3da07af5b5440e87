import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatSummary, repoRoot, runFuzz, Worker } from './fuzz/harness';
import { loadCorpus } from './fuzz/mutate';
import { runOne, type Outcome } from './fuzz/outcome';

// ──── regressions: each input the fuzzer found, minimised ────

const scratch = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-fuzz-regress-'));
// One watched worker for all of them: a regression that hangs again must fail, not hang the test run.
const worker = new Worker('wasm', 10_000, 3072);
after(() => {
  worker.stop();
  rmSync(scratch, { recursive: true, force: true });
});
let caseNumber = 0;

function sample(relative: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(repoRoot, relative), 'utf8')) as Record<string, unknown>;
}

/** Writes `files` (text or JSON values) to a fresh folder and runs `model` among them through the engine in the worker. */
async function outcomeOf(files: Record<string, unknown>, model = Object.keys(files)[0]): Promise<{ outcome: Outcome; modelPath: string }> {
  const folder = path.join(scratch, String(caseNumber++));
  mkdirSync(folder, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(path.join(folder, name), typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content, null, 1));
  }
  const modelPath = path.join(folder, model);
  const { outcome } = await worker.run({ index: caseNumber, modelPath, backend: 'wasm' });
  return { outcome, modelPath };
}

async function assertRefused(files: Record<string, unknown>, problem: RegExp, model?: string): Promise<void> {
  const { outcome, modelPath } = await outcomeOf(files, model);
  assert.equal(outcome.kind, 'input-error', JSON.stringify(outcome));
  const message = (outcome as { message: string }).message;
  assert.ok(message.startsWith(`${modelPath}: `), message);
  assert.match(message, problem);
}

test('10^5-deep nesting is refused by the locator, before any recursive walk overflows the stack', async () => {
  const model = sample('samples/healthy-small-cnn/keras2.json');
  const deep = JSON.stringify(model).replace('"sparse":false', `"sparse":${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  await assertRefused({ 'deep.json': deep }, /nests more than 1000 levels deep at line 1, column \d+/);
  const deepObject = JSON.stringify(model).replace('"sparse":false', `"sparse":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`);
  await assertRefused({ 'deep-object.json': deepObject }, /nests more than 1000 levels deep/);
  // Brackets inside strings are not nesting.
  const { outcome } = await outcomeOf({ 'brackets-in-a-string.json': JSON.stringify(model).replace('"sparse":false', `"sparse":false,"note":"${'['.repeat(5000)}"`) });
  assert.equal(outcome.kind, 'trained', JSON.stringify(outcome));
});

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
