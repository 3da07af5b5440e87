import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { EngineToHostMessage } from '../src/shared/engineProtocol';
import { EngineProcess } from '../src/engine/runner';
import { repoRoot } from './cliHarness';

const enginePath = path.join(repoRoot, 'dist', 'engine.js');
const SMALL = path.join(repoRoot, 'samples/healthy-small-cnn/keras2.json');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function waitFor(engine: EngineProcess, predicate: (msg: EngineToHostMessage) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const subscription = engine.onMessage((msg) => {
      if (predicate(msg)) {
        subscription.dispose();
        resolve();
      }
    });
  });
}

test('a run in the forked engine sends ready, steps and done with the report', async () => {
  const engine = new EngineProcess({ enginePath });
  const types: string[] = [];
  let stepsSeen = 0;
  engine.onMessage((msg) => {
    types.push(msg.type);
    if (msg.type === 'step') stepsSeen += msg.steps.length;
  });
  const result = await engine.start(SMALL, { steps: 6, batchSize: 8, data: 'synthetic' });
  assert.equal(result.kind, 'done');
  assert.ok(result.kind === 'done' && result.report.run.stepsCompleted === 6);
  assert.equal(stepsSeen, 6);
  assert.ok(types.indexOf('ready') < types.indexOf('step'));
  assert.equal(types.filter((t) => t === 'done').length, 1);
  await engine.cancel();
  assert.equal(engine.running, false);
});

test('cancel mid-run ends the run with a cancelled report and the child is gone', async () => {
  const engine = new EngineProcess({ enginePath, cancelGraceMs: 3000 });
  const firstStep = waitFor(engine, (msg) => msg.type === 'step');
  const outcome = engine.start(SMALL, { steps: 5000, batchSize: 8, data: 'synthetic' });
  await firstStep;
  const pid = engine.pid!;
  await engine.cancel();
  const result = await outcome;
  assert.equal(result.kind, 'done');
  assert.ok(result.kind === 'done' && result.report.run.cancelled === true);
  assert.ok(result.kind === 'done' && result.report.run.stepsCompleted! < 5000);
  assert.equal(isAlive(pid), false);
});

test('a child killed from outside becomes a crashed error', async () => {
  const engine = new EngineProcess({ enginePath });
  const ready = waitFor(engine, (msg) => msg.type === 'ready');
  const errors: EngineToHostMessage[] = [];
  engine.onMessage((msg) => msg.type === 'error' && errors.push(msg));
  const outcome = engine.start(SMALL, { steps: 5000, batchSize: 8, data: 'synthetic' });
  await ready;
  process.kill(engine.pid!, 'SIGKILL');
  const result = await outcome;
  assert.equal(result.kind, 'error');
  assert.ok(result.kind === 'error' && result.error.code === 'crashed');
  assert.match(result.kind === 'error' ? result.error.message : '', /healthy-small-cnn\/keras2\.json: the engine was stopped by SIGKILL/);
  assert.equal(errors.length, 1);
});

test('a bad model file comes back as one bad-input error naming the file', async () => {
  const engine = new EngineProcess({ enginePath });
  const bad = path.join(repoRoot, 'test/fixtures/bad/unknown-layer.json');
  const result = await engine.start(bad, { steps: 2 });
  assert.equal(result.kind, 'error');
  assert.ok(result.kind === 'error' && result.error.code === 'bad-input');
  assert.ok(result.kind === 'error' && result.error.message.includes('unknown-layer.json'));
  assert.ok(result.kind === 'error' && !result.error.message.includes('\n'));
  assert.equal(result.kind === 'error' && result.error.layer, 'fancy_conv', 'the error names the layer, for a marker on it');
});
