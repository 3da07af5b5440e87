import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { EngineToHostMessage } from '../src/shared/engineProtocol';
import type { Report } from '../src/shared/report';
import { EngineProcess } from '../src/engine/runner';
import { markStartup, parseStartupLog, preloadTfjsEnv, startupLog, type StartupPhase } from '../src/engine/startupPhases';
import { loadFashionMnist } from '../src/engine/data/fashionMnist';
import { SpareEngineSlot, type EngineFactory } from '../src/host/spareEngine';
import { SYSTEM_PYTHON } from '../src/engine/pytorch/interpreter';
import { cliPath, repoRoot } from './cliHarness';

// The waiting engine (issue 14, time to the first finding): it prepares TF.js, the backend, the
// data and one throwaway step before its request, and must then run exactly what a cold one runs.

const enginePath = path.join(repoRoot, 'dist', 'engine.js');
const VANISHING = path.join(repoRoot, 'samples/vanishing-sigmoid-10conv/keras2.json');
const SMALL = path.join(repoRoot, 'samples/healthy-small-cnn/keras2.json');
const TORCH_SAMPLE = path.join(repoRoot, 'samples/pytorch/vanishing_sigmoid.py');
/** Past the early vanishing checkpoint (10 steps), short of the one at 50. */
const OPTIONS = { steps: 12, batchSize: 16, seed: 7 };

const factory: EngineFactory = (execPath, waiting) => new EngineProcess({ enginePath, execPath, ...(waiting?.preloadTfjs ? { env: preloadTfjsEnv() } : {}) });

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Until the waiting engine has used some CPU and then stopped: it is prepared (Linux /proc). */
async function untilSettled(pid: number): Promise<void> {
  let last = -1;
  let still = 0;
  for (let waited = 0; waited < 60_000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = cpuMs(pid);
    still = now === last ? still + 100 : 0;
    last = now;
    if (still >= 800 && now >= 300) return;
  }
  throw new Error('the waiting engine kept working for a minute');
}

interface Run {
  report: Report;
  live: string[];
  phases: Partial<Record<StartupPhase, number>>;
  backend: string;
}

async function analyse(engine: EngineProcess, modelPath: string, options: Record<string, unknown>): Promise<Run> {
  const live: string[] = [];
  let phases: Partial<Record<StartupPhase, number>> = {};
  let backend = '';
  let stepsSeen = 0;
  engine.onMessage((msg: EngineToHostMessage) => {
    if (msg.type === 'log') phases = parseStartupLog(msg.message)?.phases ?? phases;
    if (msg.type === 'ready') backend = msg.backend;
    if (msg.type === 'step') stepsSeen = msg.steps[msg.steps.length - 1].step + 1;
    if (msg.type === 'finding' && stepsSeen < (options.steps as number)) live.push(`${msg.finding.code}@${stepsSeen}`);
  });
  const result = await engine.start(modelPath, options);
  assert.equal(result.kind, 'done', JSON.stringify(result));
  return { report: (result as { report: Report }).report, live, phases, backend };
}

/** What must not depend on how the engine started: the run's numbers and findings. */
function outcome(report: Report): unknown {
  return { loss: report.history.loss, accuracy: report.history.accuracy, findings: report.findings.map((f) => ({ code: f.code, severity: f.severity, layer: f.layer, message: f.message, evidence: f.evidence, fixes: f.fixes.map((x) => x.code) })) };
}

test('a waiting engine prepares before its request, then runs what a cold engine runs, twice over (the slot replenished after a run)', async () => {
  const cold = await analyse(new EngineProcess({ enginePath }), VANISHING, OPTIONS);
  assert.deepEqual(cold.live, ['vanishing-gradient@10'], 'the vanishing sample is decided live after 10 steps');
  const order = (['node', 'request', 'tfjs', 'backend', 'model', 'data', 'ready'] as const).map((phase) => cold.phases[phase]);
  assert.ok(order.every((ms, i) => ms !== undefined && (i === 0 || ms >= order[i - 1]!)), `a cold engine loads TF.js after its request: ${JSON.stringify(cold.phases)}`);

  const slot = new SpareEngineSlot(factory, () => true, { delayMs: 0, idleMs: 120_000 });
  try {
    for (let round = 0; round < 2; round++) {
      slot.replenish(undefined, true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await untilSettled(slot.waiting!.pid!);
      const { engine, prepared } = slot.take(undefined);
      assert.equal(prepared, true);
      const warm = await analyse(engine, VANISHING, OPTIONS);
      const { tfjs, backend, request } = warm.phases;
      assert.ok(tfjs! < request! && backend! < request!, `round ${round}: TF.js and the backend were ready before the request: ${JSON.stringify(warm.phases)}`);
      assert.deepEqual(outcome(warm.report), outcome(cold.report), `round ${round}: the same losses and findings as the cold run`);
      assert.deepEqual(warm.live, cold.live);
    }
  } finally {
    await slot.dispose();
  }
});

test('a waiting engine prepared for wasm runs a request for another backend on that backend, with its numbers', async () => {
  const options = { steps: 3, batchSize: 8, seed: 3, data: 'synthetic', backend: 'cpu' };
  const cold = await analyse(new EngineProcess({ enginePath }), SMALL, options);
  const waiting = factory(undefined, { preloadTfjs: true });
  waiting.prepare();
  await untilSettled(waiting.pid!);
  const warm = await analyse(waiting, SMALL, options);
  assert.equal(warm.backend, 'cpu');
  assert.deepEqual(outcome(warm.report), outcome(cold.report));
});

test('an engine prepared for TF.js still runs a PyTorch model (the spare after a TF.js run, taken for a .py), with a cold engine\'s numbers', { skip: !existsSync(SYSTEM_PYTHON) }, async () => {
  const options = { steps: 3, batchSize: 8, seed: 5, data: 'synthetic', python: SYSTEM_PYTHON };
  const cold = await analyse(new EngineProcess({ enginePath }), TORCH_SAMPLE, options);
  const waiting = factory(undefined, { preloadTfjs: true });
  waiting.prepare();
  await untilSettled(waiting.pid!);
  const warm = await analyse(waiting, TORCH_SAMPLE, options);
  assert.equal(warm.report.model.format, 'pytorch');
  assert.deepEqual(outcome(warm.report), outcome(cold.report));
});

test('the spare slot asks for a TF.js-ready engine only when replenished for one; an engine taken for a run now is plain', () => {
  const made: Array<{ preloadTfjs: boolean } | undefined> = [];
  // A long delay: nothing is forked in this test.
  const slot = new SpareEngineSlot((execPath, waiting) => {
    made.push(waiting);
    return new EngineProcess({ enginePath, execPath });
  }, () => true, { delayMs: 60_000, idleMs: 120_000 });
  slot.take(undefined);
  slot.replenish(undefined, true);
  slot.replenish(undefined);
  void slot.dispose();
  assert.deepEqual(made, [undefined, { preloadTfjs: true }, { preloadTfjs: false }]);
});

test('the start-up log line reads back as it was written, once per process', () => {
  markStartup('node');
  markStartup('node');
  const line = startupLog();
  assert.ok(line);
  const parsed = parseStartupLog(line);
  assert.ok(parsed && Math.abs(parsed.originEpochMs - performance.timeOrigin) < 1);
  assert.deepEqual(Object.keys(parsed.phases), ['node'], 'the first mark of a phase counts, once');
  assert.ok(parsed.phases.node! > 0 && parsed.phases.node! <= performance.now());
  assert.equal(startupLog(), undefined, 'a second analysis in the same process has no start-up of its own');
  assert.equal(parseStartupLog('backend: wasm'), undefined);
});

test('the Fashion-MNIST subset is decoded once: every shape it fits gets the same values', async () => {
  const image = await loadFashionMnist([28, 28, 1], 10);
  const flat = await loadFashionMnist([784], 10);
  assert.deepEqual(flat.inputShape, [784]);
  assert.deepEqual(image.inputShape, [28, 28, 1]);
  assert.equal(flat.x, image.x, 'one decoded copy');
  assert.equal(image.size, 4000);
  assert.ok(image.x.every((v) => v >= 0 && v <= 1));
  assert.equal(image.y.length, image.size);
});

test('the CLI says a finding found while training at once on stderr, before the report', async () => {
  const cli = spawn(process.execPath, [cliPath, 'analyze', VANISHING, '--steps', '30', '--batch-size', '16'], { cwd: repoRoot, env: { ...process.env, GRADIENT_LENS_DEBUG: '' } });
  let stderr = '';
  let stdoutWhenFound: string | undefined;
  let stdout = '';
  cli.stdout.on('data', (chunk) => (stdout += chunk));
  cli.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stdoutWhenFound === undefined && /found error vanishing-gradient/.test(stderr)) stdoutWhenFound = stdout;
  });
  const status = await new Promise((resolve) => cli.on('exit', resolve));
  assert.equal(status, 1, stderr);
  assert.match(stderr, /^found error vanishing-gradient \(conv2d, after 10 steps\): conv2d gradient RMS .* after 10 steps$/m);
  assert.equal(stdoutWhenFound, '', 'said while the run went on, before the report');
  assert.match(stderr, /\nfound error[^\n]*\n(step \d+\/30 [^\n]*\n)*step 30\/30 /, 'the run goes on after it');
  assert.match(stdout, /vanishing-gradient/);
});
