import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineToHostMessage } from '../src/shared/engineProtocol';
import { EngineProcess } from '../src/engine/runner';
import { summarizeRun } from '../src/engine/watch/runList';
import { repoRoot } from './cliHarness';

// The editor's path for run files, without the editor: the engine child (dist/engine.js) reads a
// run file the host names, follows it while it grows and sends the short run's messages; the run
// list reads a file's state from its two ends.

const enginePath = path.join(repoRoot, 'dist', 'engine.js');

function header(pid: number): string {
  return JSON.stringify({
    type: 'header', format: 'gradient-lens-run', protocolVersion: 1, framework: 'pytorch', torchVersion: '2.0', pythonVersion: '3.11',
    script: '/work/train.py', modelFile: path.join(repoRoot, 'samples/pytorch/custom_cnn.py'), cwd: '/work', pid, startedAt: 1000, entry: 'Net', optimizer: 'Adam',
    learningRate: 0.001, every: 1, distributed: true, worldSize: 2, rankCount: 2, backend: 'gloo', device: 'cpu', gradScaler: false, numClasses: 10,
    layers: [{ name: 'conv', className: 'Conv2d', instrumented: true, paramCount: 10 }, { name: 'fc', className: 'Linear', instrumented: true, paramCount: 10 }],
  });
}

function step(i: number, rms: number, loss: number | null, nonFinite = 0): string {
  const layer = (name: string) => ({ layer: name, gradL2: rms, gradRms: rms, gradMeanAbs: rms, gradMaxAbs: rms, gradZeroFraction: 0, gradNonFinite: nonFinite, weightL2: 1, updateRatio: 1e-3 });
  return JSON.stringify({ type: 'step', stats: { step: i, loss, layers: [layer('conv'), layer('fc')] }, skippedSteps: 0, learningRate: 0.001, time: 1000 + i });
}

test('the engine follows a growing run file and sends ready, steps, a live finding and the report', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gl-watch-engine-'));
  const file = path.join(dir, 'run.jsonl');
  try {
    writeFileSync(file, `${header(process.pid)}\n${step(0, 0.01, 2.3)}\n`);
    const engine = new EngineProcess({ enginePath });
    const messages: EngineToHostMessage[] = [];
    let sawStep: () => void = () => {};
    const firstStep = new Promise<void>((resolve) => (sawStep = resolve));
    let sawFinding: () => void = () => {};
    const finding = new Promise<void>((resolve) => (sawFinding = resolve));
    engine.onMessage((msg) => {
      messages.push(msg);
      if (msg.type === 'step') sawStep();
      if (msg.type === 'finding' && msg.finding.code === 'non-finite') sawFinding();
    });
    const result = engine.start(file, { followRunFile: true, maxEventsPerSecond: 50 });
    await firstStep;
    appendFileSync(file, `${step(1, 0.02, 2.2)}\n${step(2, 0.02, null, 4)}\n`);
    await finding;
    appendFileSync(file, `${JSON.stringify({ type: 'close', status: 'completed', steps: 3, loggedSteps: 3, skippedSteps: 0, time: 1003 })}\n`);
    const end = await result;
    assert.equal(end.kind, 'done');
    const ready = messages.find((m) => m.type === 'ready');
    assert.ok(ready && ready.type === 'ready');
    assert.equal(ready.format, 'pytorch');
    assert.equal(ready.modelPath, path.join(repoRoot, 'samples/pytorch/custom_cnn.py'));
    assert.deepEqual(ready.layers.map((l) => l.name), ['conv', 'fc']);
    const steps = messages.flatMap((m) => (m.type === 'step' ? m.steps.map((s) => s.step) : []));
    assert.deepEqual(steps, [0, 1, 2]);
    const done = messages.find((m) => m.type === 'done');
    assert.ok(done && done.type === 'done');
    assert.equal(done.report.run.ended, 'completed');
    assert.equal(done.report.findings.find((f) => f.code === 'non-finite')?.step, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the run list tells live, finished, failed and abnormally ended runs apart from the file alone', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gl-watch-list-'));
  try {
    const write = (name: string, text: string) => {
      writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const close = (status: string) => JSON.stringify({ type: 'close', status, steps: 1, loggedSteps: 1, skippedSteps: 0, time: 1001 });
    const alive = (pid: number) => pid === 111;
    const live = await summarizeRun(write('live.jsonl', `${header(111)}\n${step(0, 0.01, 2.3)}\n`), alive);
    const killed = await summarizeRun(write('killed.jsonl', `${header(222)}\n${step(0, 0.01, 2.3)}\n${step(1, 0.01, 2.3).slice(0, 40)}`), alive);
    const done = await summarizeRun(write('done.jsonl', `${header(222)}\n${step(0, 0.01, 2.3)}\n${close('completed')}\n`), alive);
    const failed = await summarizeRun(write('failed.jsonl', `${header(111)}\n${close('failed')}\n`), alive);
    const notRun = await summarizeRun(write('other.jsonl', '{"a": 1}\n'), alive);
    const empty = await summarizeRun(write('empty.jsonl', ''), alive);
    assert.deepEqual([live?.state, killed?.state, done?.state, failed?.state], ['live', 'ended abnormally', 'completed', 'failed']);
    assert.equal(live?.script, 'train.py');
    assert.equal(live?.worldSize, 2);
    assert.equal(notRun, undefined);
    assert.equal(empty, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
