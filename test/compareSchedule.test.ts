import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CandidateEngines, candidateOrder, startComparison } from '../src/engine/train/compareFixes';
import type { Finding } from '../src/shared/findings';
import type { ResolvedRunOptions } from '../src/shared/runOptions';

/** The list schedule's end, worked by hand in the tests below: each candidate to the lane that frees first. */
function makespan(order: number[], costs: number[], runLeft: number, lanes: number): number {
  const free = Array.from({ length: lanes }, (_, i) => (i === 0 ? runLeft : 0));
  for (const job of order) free[free.indexOf(Math.min(...free))] += costs[job];
  return Math.max(...free);
}

test('candidateOrder: the longest candidate starts on the core the run leaves idle, so the last one ends soonest', () => {
  // The vanishing sample's four candidates (use-relu, add-batch-normalization, use-leaky-relu,
  // change-initializer) by their text, 50 of the run's 100 steps left, two cores. By hand: the
  // lanes {run 50, use-relu 99, change-initializer 108} and {batch norm 144, leaky 116} end at
  // 257 and 260; every other split of the four ends at 265 or later.
  const costs = [99, 144, 116, 108];
  const order = candidateOrder(costs, 50, 2);
  assert.deepEqual([...order].sort(), [0, 1, 2, 3]);
  assert.equal(order[0], 1);
  assert.equal(makespan(order, costs, 50, 2), 260);
  // The fixes' own order (use-relu first) would end at 50 + 99 + 116 = 265 at best.
  assert.ok(makespan([0, 1, 2, 3], costs, 50, 2) > 260);
});

test('candidateOrder: equal costs, or one lane, keep the fixes\' own order', () => {
  assert.deepEqual(candidateOrder([100, 100, 100, 100], 0, 2), [0, 1, 2, 3]);
  assert.deepEqual(candidateOrder([100, 140, 120], 30, 1), [0, 1, 2]);
});

// A stand-in for dist/engine.js that speaks the engine protocol: it logs when it was forked and
// when its candidate started and ended, "trains" for the `ms` its model text names and reports
// the `loss` it names. The scheduler under test is the real one, with real processes.
const STUB_ENGINE = `
const fs = require('node:fs');
const log = (entry) => fs.appendFileSync(process.env.STUB_ENGINE_LOG, JSON.stringify({ pid: process.pid, at: Date.now(), ...entry }) + '\\n');
log({ event: 'forked' });
process.on('message', (msg) => {
  if (msg.type !== 'start') return;
  const model = JSON.parse(fs.readFileSync(msg.modelPath, 'utf8'));
  log({ event: 'start', name: model.name });
  setTimeout(() => {
    log({ event: 'end', name: model.name });
    const report = { schemaVersion: 1, model: { path: msg.modelPath, format: 'keras', layers: [] }, run: { durationMs: model.ms }, history: { loss: [model.loss], accuracy: [0.5] }, findings: [], layerSummary: [] };
    process.send({ type: 'done', report }, () => process.exit(0));
  }, model.ms);
});
process.on('disconnect', () => process.exit(0));
`;

interface StubEvent {
  pid: number;
  at: number;
  event: 'forked' | 'start' | 'end';
  name?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const RESOLVED: ResolvedRunOptions = { steps: 100, batchSize: 32, learningRate: 0.001, optimizer: 'adam', loss: 'categorical_crossentropy', data: 'synthetic', seed: 1, backend: 'cpu' };

interface StubSetting {
  folder: string;
  enginePath: string;
  /** The engines' log so far. */
  events(): StubEvent[];
  /** A model file whose text names the run's loss and time; `whole` replaces all of it. */
  modelPath: string;
  text: string;
  whole: { start: { line: number; character: number }; end: { line: number; character: number } };
  /** Four engines forked ahead, once each has logged its start. */
  forkedAhead(): Promise<CandidateEngines>;
}

async function withStubEngines(body: (setting: StubSetting) => Promise<void>): Promise<void> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'gl-compare-schedule-'));
  const enginePath = path.join(folder, 'stubEngine.js');
  const logPath = path.join(folder, 'engines.log');
  writeFileSync(enginePath, STUB_ENGINE);
  writeFileSync(logPath, '');
  const previousLog = process.env.STUB_ENGINE_LOG;
  process.env.STUB_ENGINE_LOG = logPath;
  const events = (): StubEvent[] =>
    readFileSync(logPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as StubEvent);
  const text = JSON.stringify({ name: 'run', loss: 2.3, ms: 300 });
  const modelPath = path.join(folder, 'model.json');
  writeFileSync(modelPath, text);
  const whole = { start: { line: 0, character: 0 }, end: { line: 0, character: text.length } };
  const forkedAhead = async (): Promise<CandidateEngines> => {
    const engines = new CandidateEngines(enginePath, false, 4);
    for (let i = 0; i < 4; i++) engines.add();
    while (events().filter((e) => e.event === 'forked').length < 4) await sleep(20);
    return engines;
  };
  try {
    await body({ folder, enginePath, events, modelPath, text, whole, forkedAhead });
  } finally {
    if (previousLog === undefined) delete process.env.STUB_ENGINE_LOG;
    else process.env.STUB_ENGINE_LOG = previousLog;
    rmSync(folder, { recursive: true, force: true });
  }
}

test('a comparison takes the engines forked ahead, leaves the run its core until it ends, then uses every core, and ranks by outcome', () =>
  withStubEngines(async ({ folder, enginePath, events, modelPath, text, whole, forkedAhead }) => {
    // `long` has the longest text, so the largest estimated cost: it should start first.
    const candidates = [
      { name: 'a', loss: 1.2, ms: 300 },
      { name: 'long', loss: 0.6, ms: 300, padding: 'x'.repeat(200) },
      { name: 'c', loss: 0.9, ms: 300 },
      { name: 'd', loss: 2.0, ms: 300 },
    ];
    const codes = ['use-relu', 'add-batch-normalization', 'use-leaky-relu', 'change-initializer'] as const;
    const finding = {
      code: 'vanishing-gradient',
      severity: 'error',
      message: 'stub',
      evidence: {},
      fixes: candidates.map((candidate, i) => ({ code: codes[i], title: candidate.name, edits: [{ range: whole, newText: JSON.stringify(candidate) }] })),
    } as Finding;
    const engines = await forkedAhead();
    const ahead = new Set(events().map((e) => e.pid));

    const comparison = startComparison(modelPath, text, {}, RESOLVED, finding, () => undefined, undefined, { enginePath, parallel: 2, engines, runStepsLeft: 50 });
    // The run "trains" until two candidates have ended one after the other on the free core.
    while (events().filter((e) => e.event === 'end').length < 2) await sleep(20);
    const runEndedAt = Date.now();
    const result = await comparison.finish([], 0);

    const log = events();
    const spans = log.filter((e) => e.event === 'start').map((s) => ({ name: s.name!, pid: s.pid, start: s.at, end: log.find((e) => e.event === 'end' && e.pid === s.pid)!.at }));
    assert.equal(spans.length, 4);
    assert.equal(spans[0].name, 'long', 'the longest candidate starts first');
    const overlapping = (x: { start: number; end: number }, y: { start: number; end: number }) => x.start < y.end && y.start < x.end;
    const beforeEnd = spans.filter((s) => s.start < runEndedAt);
    for (const x of beforeEnd) for (const y of beforeEnd) if (x !== y) assert.ok(!overlapping(x, y), `${x.name} and ${y.name} trained at once while the run trained`);
    const afterEnd = spans.filter((s) => s.start >= runEndedAt);
    assert.ok(afterEnd.length >= 1, 'a candidate was left for after the run');
    for (const x of afterEnd) assert.ok(spans.some((y) => y !== x && overlapping(x, y)), `once the run ended, ${x.name} trained beside another candidate`);
    // Every candidate trained in an engine forked before the comparison began; none was forked after.
    for (const span of spans) assert.ok(ahead.has(span.pid), `${span.name} ran in a fresh engine`);
    assert.equal(log.filter((e) => e.event === 'forked').length, 4);
    assert.deepEqual(
      result.candidates.map((c) => [c.title, c.rank]),
      [
        ['long', 1],
        ['c', 2],
        ['a', 3],
        ['d', 4],
      ],
    );
    assert.equal(result.parallel, 2);
    for (const span of spans) assert.ok(!alive(span.pid), `engine ${span.pid} still running`);
    assert.deepEqual(readdirSync(folder).filter((name) => name.includes('gradient-lens-compare')), [], 'the edited copies are removed');
  }));

test('engines forked ahead that no candidate takes are stopped when the comparison needs fewer', () =>
  withStubEngines(async ({ enginePath, events, modelPath, text, whole, forkedAhead }) => {
    const finding = {
      code: 'poor-initialization',
      severity: 'error',
      message: 'stub',
      evidence: {},
      fixes: (['change-initializer', 'add-batch-normalization'] as const).map((code, i) => ({ code, title: code, edits: [{ range: whole, newText: JSON.stringify({ name: code, loss: 1 + i, ms: 100 }) }] })),
    } as Finding;
    const engines = await forkedAhead();
    const result = await startComparison(modelPath, text, {}, RESOLVED, finding, () => undefined, undefined, { enginePath, parallel: 2, engines }).finish([], 0);
    assert.deepEqual(result.candidates.map((c) => c.rank), [1, 2]);
    assert.equal(engines.waitingCount, 0);
    const pids = [...new Set(events().map((e) => e.pid))];
    assert.equal(pids.length, 4);
    for (let tries = 0; pids.some(alive) && tries < 100; tries++) await sleep(20);
    assert.deepEqual(pids.filter(alive), [], 'the two spare engines are gone');
  }));

test('while no comparison is ahead only one engine is forked; once one is, the rest follow a half second apart', () =>
  withStubEngines(async ({ enginePath, events }) => {
    const engines = new CandidateEngines(enginePath, false, 4);
    const forked = () => events().filter((e) => e.event === 'forked').length;
    try {
      // A healthy model's run: steps for 1.5 s, no finding with fixes to compare.
      for (const end = performance.now() + 1_500; performance.now() < end; await sleep(25)) engines.warmWhileTraining(false);
      for (let tries = 0; forked() < 1 && tries < 100; tries++) await sleep(20);
      assert.equal(engines.waitingCount, 1, 'one engine waits for a comparison that may come');
      // The top finding is live: the others are forked, one per interval, up to four.
      for (const end = performance.now() + 2_000; performance.now() < end; await sleep(25)) engines.warmWhileTraining(true);
      assert.equal(engines.waitingCount, 4);
    } finally {
      await engines.dispose();
    }
  }));
