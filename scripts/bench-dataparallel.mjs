// `npm run bench`'s data-parallel section: one thread against data-parallel steps
// (src/engine/train/dataParallel.ts) on the reference networks, plain and instrumented,
// interleaved in one child process (a fresh TF.js engine on wasm), beside PyTorch's step as
// bench.mjs measured it. Runs on its own too:
//
//   node scripts/bench-dataparallel.mjs [--quick] [--networks small-cnn,...]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const scriptPath = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(scriptPath), '..');
const compiled = path.join(root, 'out', 'src', 'engine');
const require = createRequire(import.meta.url);
const BATCH_SIZE = 32;
const SEED = 42;
const ROUND = 3;
const KINDS = ['single plain', 'single instrumented', 'parallel plain', 'parallel instrumented', 'halves instrumented'];

/**
 * Runs the comparison in a child process and returns its rows; `pytorchBestMs` maps a network
 * to the faster of PyTorch's 1- and 2-thread medians (bench.mjs), for the ratio column.
 */
export function benchDataParallel({ networks, quick = false }) {
  const args = [scriptPath, '--child', '--networks', networks.join(',')];
  if (quick) args.push('--quick');
  const loadBefore = os.loadavg()[0];
  try {
    const stdout = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 });
    return { ...JSON.parse(stdout), loadAverage: { before: loadBefore, after: os.loadavg()[0] } };
  } catch (error) {
    return { unavailable: `data-parallel bench failed: ${String(error.stderr || error.message).trim().split('\n').slice(-3).join(' ')}` };
  }
}

export function printDataParallel(result, pytorchBestMs = {}) {
  if (result.unavailable) {
    console.log(`\nnote: ${result.unavailable}`);
    return;
  }
  const { before, after } = result.loadAverage;
  console.log(`\nData-parallel steps (wasm, batch ${BATCH_SIZE}, Adam; ${result.cores} cores; load average ${before.toFixed(2)} before, ${after.toFixed(2)} after): one thread against ${result.threads} threads, interleaved, medians`);
  console.log('| network | 1-thread plain ms | 1-thread instrumented ms | parallel plain ms | parallel instrumented ms | speed-up (instrumented) | same, fastest steps | CPU time parallel / 1-thread | same, two half batches on 1 thread | parallel instrumented / plain | parallel instrumented / PyTorch best | start-up decision |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of result.rows) {
    const torch = pytorchBestMs[r.name];
    const cells = [
      r.name,
      r.ms['single plain'].toFixed(1),
      r.ms['single instrumented'].toFixed(1),
      r.ms['parallel plain'].toFixed(1),
      r.ms['parallel instrumented'].toFixed(1),
      `${(r.ms['single instrumented'] / r.ms['parallel instrumented']).toFixed(2)}×`,
      `${(r.minMs['single instrumented'] / r.minMs['parallel instrumented']).toFixed(2)}×`,
      `${(r.cpuMs['parallel instrumented'] / r.cpuMs['single instrumented']).toFixed(2)}×`,
      `${(r.cpuMs['halves instrumented'] / r.cpuMs['single instrumented']).toFixed(2)}×`,
      `${(r.ms['parallel instrumented'] / r.ms['parallel plain']).toFixed(3)}×`,
      torch ? `${(r.ms['parallel instrumented'] / torch).toFixed(2)}×` : '–',
      r.decision,
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
}

// ──── Child: every network, one TF.js engine ────

async function runChild(names, quick) {
  const tf = require('@tensorflow/tfjs');
  const { selectBackend } = require(path.join(compiled, 'backend.js'));
  const { Trainer } = require(path.join(compiled, 'train', 'trainer.js'));
  const { createTrainer, availableCores } = require(path.join(compiled, 'train', 'dataParallel.js'));
  const { referenceNetwork } = require(path.join(compiled, 'reference', 'networks.js'));
  await selectBackend('wasm');
  const steps = quick ? 9 : 21;
  const options = { optimizer: 'adam', learningRate: 1e-3, loss: 'categorical_crossentropy', seed: SEED };
  const rows = [];
  let threads = 1;
  for (const name of names) {
    const single = new Trainer(referenceNetwork(name).build(SEED), options);
    // The measured decision is reported; the timing below forces the parallel path either way.
    const measured = await createTrainer(referenceNetwork(name).build(SEED), options, { batchSize: BATCH_SIZE });
    measured.trainer.dispose();
    const { trainer: parallel, decision } = await createTrainer(referenceNetwork(name).build(SEED), options, { batchSize: BATCH_SIZE, measure: false });
    // The split's own price: one thread stepping through the two halves a data-parallel step deals out.
    const halves = new Trainer(referenceNetwork(name).build(SEED), options);
    threads = Math.max(threads, decision.threads);
    const batches = Array.from({ length: 4 }, (_, i) => {
      const x = tf.randomUniform([BATCH_SIZE, 28, 28, 1], 0, 1, 'float32', SEED + i);
      const y = tf.oneHot(tf.randomUniform([BATCH_SIZE], 0, 10, 'int32', SEED + 100 + i), 10).toFloat();
      const half = BATCH_SIZE / 2;
      return { x, y, halves: [0, half].map((start) => ({ x: tf.slice(x, start, half), y: tf.slice(y, start, half) })) };
    });
    const times = Object.fromEntries(KINDS.map((k) => [k, []]));
    const cpuTimes = Object.fromEntries(KINDS.map((k) => [k, []]));
    let step = 0;
    const run = (kind) => {
      const { x, y, halves: parts } = batches[step % batches.length];
      const trainer = kind.startsWith('single') ? single : parallel;
      const cpuStart = process.cpuUsage();
      const started = performance.now();
      if (kind.startsWith('halves')) for (const part of parts) halves.stepInstrumented(part.x, part.y, step);
      else if (kind.endsWith('plain')) trainer.stepPlain(x, y);
      else trainer.stepInstrumented(x, y, step);
      step++;
      const cpu = process.cpuUsage(cpuStart);
      // Process CPU counts every thread: what splitting the batch costs in total, whatever the load.
      cpuTimes[kind].push((cpu.user + cpu.system) / 1000);
      return performance.now() - started;
    };
    for (let i = 0; i < 3; i++) KINDS.forEach(run); // warm-up
    for (const kind of KINDS) cpuTimes[kind].length = 0;
    for (let r = 0; times[KINDS[0]].length < steps; r++) {
      const order = r % 2 ? [...KINDS].reverse() : KINDS;
      for (const kind of order) for (let i = 0; i < ROUND; i++) times[kind].push(run(kind));
    }
    rows.push({
      name,
      ms: Object.fromEntries(KINDS.map((k) => [k, median(times[k])])),
      cpuMs: Object.fromEntries(KINDS.map((k) => [k, median(cpuTimes[k])])),
      minMs: Object.fromEntries(KINDS.map((k) => [k, Math.min(...times[k])])),
      decision: measured.decision.reason,
    });
    single.dispose();
    parallel.dispose();
    halves.dispose();
    tf.dispose(batches.flatMap((b) => [b.x, b.y, ...b.halves.flatMap((h) => [h.x, h.y])]));
  }
  return { cores: availableCores(), threads, rows };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

if (process.argv[1] === scriptPath) {
  const { values } = parseArgs({ options: { child: { type: 'boolean' }, quick: { type: 'boolean' }, networks: { type: 'string' } } });
  const networks = values.networks ? values.networks.split(',') : ['small-cnn', 'sigmoid-10conv', 'relu-bn-10conv', 'lenet5'];
  if (values.child) process.stdout.write(JSON.stringify(await runChild(networks, values.quick)));
  else printDataParallel(benchDataParallel({ networks, quick: values.quick }));
}
