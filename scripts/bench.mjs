// `npm run bench`: the engine's training-step time on the reference networks, per backend,
// plain (Trainer.stepPlain) and instrumented (Trainer.stepInstrumented), against PyTorch's
// step on the same network (scripts/torch/bench_step.py). Uses the tsc output in out/ (built by
// scripts/build.mjs). Each backend runs in its own child process (a fresh TF.js engine, no
// memory carried over); PyTorch runs as a python3 subprocess. Installs nothing.
//
//   node scripts/bench.mjs [--quick] [--json] [--profile] [--backends wasm,cpu] [--networks small-cnn,...] [--only first-finding]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { learningRateBench, printLearningRateBench } from './bench-lr.mjs';
import { benchDataParallel, printDataParallel } from './bench-dataparallel.mjs';
import { measurePytorchOverhead, printPytorchOverhead } from './bench-pytorch.mjs';
import { benchFirstFinding, printFirstFinding } from './bench-first-finding.mjs';

const scriptPath = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(scriptPath), '..');
const compiled = path.join(root, 'out', 'src', 'engine');
const require = createRequire(import.meta.url);

const BATCH_SIZE = 32;
const SEED = 42;
/** Plain and instrumented steps alternate in rounds of this many, order swapped each round, so drift hits both. */
const ROUND = 5;
const SLOW_ROUND = 2;
/** A warm-up step slower than this marks the backend as slow for that network. */
const SLOW_STEP_MS = 500;
const PROFILED_STEPS = 5;
const ALL_BACKENDS = ['tensorflow', 'wasm', 'cpu'];
/** Sections `--only` can pick. */
const SECTIONS = ['first-finding', 'engine'];

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    backends: { type: 'string' },
    networks: { type: 'string' },
    worker: { type: 'string' },
    profile: { type: 'boolean', default: false },
    only: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

/** Steps per kind after warm-up, and the time (warm-up included) after which a slow backend stops early, after at least two rounds. */
const plan = flags.quick
  ? { steps: 10, warmup: 2, budgetMs: 6_000, torchSteps: 15 }
  : { steps: 30, warmup: 10, budgetMs: 25_000, torchSteps: 40 };

if (flags.help) {
  console.log(`usage: node scripts/bench.mjs [--quick] [--json] [--profile] [--backends ${ALL_BACKENDS.join(',')}] [--networks NAME,...] [--only first-finding|engine]
  --quick     fewer steps (10 per kind instead of 30) and a 6 s budget per slow network
  --json      print { networks: [{ name, backend, engineMs, instrumentedMs, pytorchMs, ratioToPytorch, instrumentationOverhead, ... }] }
              pytorchMs uses threads = cores; ratioToPytorch divides by the better of that and one thread
  --profile   also time each kernel over ${PROFILED_STEPS} plain and ${PROFILED_STEPS} instrumented steps (tf.profile) and print where the time goes
  --backends  default: every backend that initialises here
  --networks  default: the benchmarked reference networks (src/engine/reference/networks.ts)
  --only      one section: first-finding (time to the first finding: scripts/bench-first-finding.mjs), or engine
              (just the engine/PyTorch step table, and --profile: no trainer, first-finding, learning-rate or data-parallel section)`);
  process.exit(0);
}

if (!existsSync(path.join(compiled, 'train', 'trainer.js'))) {
  console.error(`bench: ${path.relative(root, compiled)}/train/trainer.js not found: run \`node scripts/build.mjs\` first (npm run bench does).`);
  process.exit(2);
}
const { REFERENCE_NETWORKS, referenceNetwork } = require(path.join(compiled, 'reference', 'networks.js'));
const networkNames = flags.networks ? flags.networks.split(',') : REFERENCE_NETWORKS.filter((n) => n.benchmarked).map((n) => n.name);
networkNames.forEach(referenceNetwork); // unknown names fail here, before any timing

if (flags.only !== undefined && !SECTIONS.includes(flags.only)) {
  console.error(`bench: --only takes ${SECTIONS.join(', ')}, not ${flags.only}`);
  process.exit(2);
}

if (flags.only === 'first-finding') {
  const firstFinding = await benchFirstFinding({ repeats: flags.quick ? 1 : 3, progress });
  if (flags.json) console.log(JSON.stringify({ firstFinding }, null, 2));
  else printFirstFinding(firstFinding);
} else if (flags.worker) {
  process.stdout.write(JSON.stringify(await runWorker(flags.worker, networkNames)));
} else {
  await runBench();
}

// ──── Parent: run each backend, then PyTorch, and print ────

async function runBench() {
  const backends = flags.backends ? flags.backends.split(',') : ALL_BACKENDS;
  const loadBefore = os.loadavg()[0];
  const engine = [];
  const notes = [];
  for (const backend of backends) {
    progress(`engine on ${backend}…`);
    const result = runWorkerProcess(backend);
    if (result.unavailable) {
      notes.push(`${backend}: not measured (${result.unavailable})`);
      continue;
    }
    engine.push(...result.rows);
    for (const row of result.rows.filter((r) => r.capped)) {
      notes.push(`${row.backend} ${row.name}: capped at ${row.plainSteps} plain + ${row.instrumentedSteps} instrumented steps (slow backend: ${plan.budgetMs / 1000} s budget per network; --backends chooses)`);
    }
  }
  progress('PyTorch…');
  const torch = measureTorch();
  if (torch.missing) notes.push(torch.missing);
  if (flags.only === 'engine') return printEngineOnly(engine, torch, notes, loadBefore);
  const trainer = measurePytorchOverhead({ root, networks: networkNames, quick: flags.quick, progress });
  progress('time to first finding…');
  const firstFinding = await benchFirstFinding({ repeats: flags.quick ? 1 : 3, progress });
  progress('learning rate: --compare-fixes and the range test against plain runs…');
  const learningRate = await learningRateBench({ quick: flags.quick });
  progress('one thread against data-parallel steps…');
  const dataParallel = benchDataParallel({ networks: networkNames, quick: flags.quick });
  const loadAfter = os.loadavg()[0];

  const rows = engineRows(engine, torch);
  const machine = machineInfo(torch, loadBefore, loadAfter);
  const profiles = engine.filter((row) => row.profile).map((row) => ({ name: row.name, backend: row.backend, ...row.profile }));
  if (flags.json) {
    console.log(JSON.stringify({ batchSize: BATCH_SIZE, optimizer: 'adam', machine, networks: rows, pytorchTrainer: trainer, firstFinding, learningRate, dataParallel, notes, ...(flags.profile ? { profiles } : {}) }, null, 2));
  } else {
    printTable(rows, machine, notes);
    printPytorchOverhead(trainer, `${round(loadBefore, 2)} before, ${round(os.loadavg()[0], 2)} now`);
    printFirstFinding(firstFinding);
    printLearningRateBench(learningRate);
    printDataParallel(dataParallel, pytorchBest(torch));
    profiles.forEach(printProfile);
  }
}

/** The engine's rows joined with PyTorch's figures for the same network. */
function engineRows(engine, torch) {
  return engine.map((row) => {
    const pytorch = torch.networks?.[row.name];
    const pytorchSingleThread = torch.singleThread?.[row.name];
    // The ratio is taken against PyTorch's better thread setting: on a busy machine its OpenMP
    // threads spin-wait for each other (measured here: 511 ms with 2 threads, 2 ms with 1).
    const pytorchBestMs = pytorch ? Math.min(pytorch.medianMs, pytorchSingleThread?.medianMs ?? Infinity) : null;
    const pytorchMinMs = pytorch ? Math.min(pytorch.minMs, pytorchSingleThread?.minMs ?? Infinity) : null;
    return {
      name: row.name,
      backend: row.backend,
      engineMs: row.engineMs,
      instrumentedMs: row.instrumentedMs,
      pytorchMs: pytorch?.medianMs ?? null,
      pytorchSingleThreadMs: pytorchSingleThread?.medianMs ?? null,
      ratioToPytorch: pytorchBestMs ? row.instrumentedMs / pytorchBestMs : null,
      instrumentationOverhead: row.instrumentedMs / row.engineMs,
      // Fastest single steps: less bent by other processes than medians when the machine is busy.
      engineMinMs: row.engineMinMs,
      instrumentedMinMs: row.instrumentedMinMs,
      pytorchMinMs,
      ratioToPytorchOfMinimums: pytorchMinMs ? row.instrumentedMinMs / pytorchMinMs : null,
      // CPU time per step (process CPU, all threads) against PyTorch on one thread, the
      // engine's own setting (wasm is single-threaded in Node): least bent by a busy machine.
      instrumentedCpuMs: row.instrumentedCpuMs,
      pytorchSingleThreadCpuMs: pytorchSingleThread?.cpuMedianMs ?? null,
      cpuRatioToPytorch: pytorchSingleThread ? row.instrumentedCpuMs / pytorchSingleThread.cpuMedianMs : null,
      cpuInstrumentationOverhead: row.instrumentedCpuMs / row.engineCpuMs,
      plainSteps: row.plainSteps,
      instrumentedSteps: row.instrumentedSteps,
      capped: row.capped,
    };
  });
}

function machineInfo(torch, loadBefore, loadAfter) {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    pytorch: torch.version ?? null,
    pytorchThreads: torch.threads ?? null,
    loadAverage: { before: round(loadBefore, 2), after: round(loadAfter, 2) },
  };
}

/** `--only engine`: the step table and the kernel profiles, without the slower sections. */
function printEngineOnly(engine, torch, notes, loadBefore) {
  const rows = engineRows(engine, torch);
  const machine = machineInfo(torch, loadBefore, os.loadavg()[0]);
  const profiles = engine.filter((row) => row.profile).map((row) => ({ name: row.name, backend: row.backend, ...row.profile }));
  if (flags.json) {
    console.log(JSON.stringify({ batchSize: BATCH_SIZE, optimizer: 'adam', machine, networks: rows, notes, ...(flags.profile ? { profiles } : {}) }, null, 2));
    return;
  }
  printTable(rows, machine, notes);
  profiles.forEach(printProfile);
}

/** Per network, the faster of PyTorch's 2- and 1-thread medians. */
function pytorchBest(torch) {
  const best = {};
  for (const [name, r] of Object.entries(torch.networks ?? {})) best[name] = Math.min(r.medianMs, torch.singleThread?.[name]?.medianMs ?? Infinity);
  return best;
}

function runWorkerProcess(backend) {
  const args = [...process.execArgv, scriptPath, '--worker', backend, '--networks', networkNames.join(',')];
  if (flags.quick) args.push('--quick');
  if (flags.profile) args.push('--profile');
  try {
    const stdout = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 });
    return JSON.parse(stdout);
  } catch (error) {
    return { unavailable: `worker failed: ${String(error.stderr || error.message).trim().split('\n').slice(-3).join(' ')}` };
  }
}

function measureTorch() {
  const { findTorch, runTorchScript, TORCH_INSTALL_HINT } = require(path.join(compiled, 'reference', 'torchPeer.js'));
  const peer = findTorch();
  if (!peer) return { missing: `PyTorch columns empty. ${TORCH_INSTALL_HINT}.` };
  const args = [...networkNames, '--steps', String(plan.torchSteps), '--warmup', '5', '--batch-size', String(BATCH_SIZE)];
  const all = JSON.parse(runTorchScript(peer, root, 'bench_step.py', args));
  // The engine's wasm backend is single-threaded in Node (FACTS.md): the one-thread figure is the like-for-like one.
  const single = JSON.parse(runTorchScript(peer, root, 'bench_step.py', [...args, '--threads', '1']));
  return { version: all.torch, threads: all.threads, networks: all.networks, singleThread: single.networks };
}

function printTable(rows, machine, notes) {
  const header = ['network', 'backend', 'engine ms', 'instrumented ms', 'PyTorch ms', 'PyTorch 1-thread ms', 'instrumented/PyTorch best', 'same, fastest steps', 'same, CPU time vs 1 thread', 'instrumented/plain', 'same, CPU time', 'steps'];
  const body = rows.map((r) => [
    r.name,
    r.backend,
    fixed(r.engineMs),
    fixed(r.instrumentedMs),
    fixed(r.pytorchMs),
    fixed(r.pytorchSingleThreadMs),
    r.ratioToPytorch === null ? '–' : `${r.ratioToPytorch.toFixed(1)}×`,
    r.ratioToPytorchOfMinimums === null ? '–' : `${r.ratioToPytorchOfMinimums.toFixed(1)}×`,
    r.cpuRatioToPytorch === null ? '–' : `${r.cpuRatioToPytorch.toFixed(1)}×`,
    `${r.instrumentationOverhead.toFixed(3)}×`,
    `${r.cpuInstrumentationOverhead.toFixed(3)}×`,
    `${r.plainSteps}+${r.instrumentedSteps}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(`Training step, batch ${BATCH_SIZE}, Adam; medians. ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, PyTorch ${machine.pytorch ?? 'absent'} (${machine.pytorchThreads ?? '–'} threads).`);
  console.log(`Load average ${machine.loadAverage.before} before, ${machine.loadAverage.after} after: compare ratios within one run, not absolute times across runs.\n`);
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const row of body) console.log(line(row));
  if (notes.length) console.log(`\n${notes.map((n) => `note: ${n}`).join('\n')}`);
}

function printProfile(profile) {
  console.log(`\n${profile.name} on ${profile.backend}: kernel time per step (tf.profile, mean of ${PROFILED_STEPS} steps; the rest of the step is JS: tape, tidy, allocation)`);
  for (const kind of ['plain', 'instrumented']) {
    const p = profile[kind];
    const top = p.kernels.slice(0, 8).map((k) => `${k.name} ${k.ms.toFixed(1)} (${Math.round(k.calls)}×, ${Math.round((100 * k.ms) / p.stepMs)} %)`).join(', ');
    console.log(`  ${kind.padEnd(12)} step ${p.stepMs.toFixed(1)} ms, kernels ${p.kernelMs.toFixed(1)} ms in ${Math.round(p.kernelCalls)} calls: ${top}`);
  }
}

// ──── Worker: one backend, every network ────

async function runWorker(backendChoice, names) {
  const tf = require('@tensorflow/tfjs');
  const { selectBackend } = require(path.join(compiled, 'backend.js'));
  const { Trainer } = require(path.join(compiled, 'train', 'trainer.js'));
  let backend;
  try {
    backend = await selectBackend(backendChoice);
  } catch (error) {
    return { unavailable: error.message };
  }
  const rows = [];
  for (const name of names) {
    const model = referenceNetwork(name).build(SEED);
    const trainer = new Trainer(model, { optimizer: 'adam', learningRate: 1e-3, loss: 'categorical_crossentropy', seed: SEED });
    const batches = syntheticBatches(tf, 4);
    const times = { plain: [], instrumented: [] };
    const cpuTimes = { plain: [], instrumented: [] };
    let step = 0;
    const runStep = (kind) => {
      const { x, y } = batches[step % batches.length];
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      if (kind === 'plain') trainer.stepPlain(x, y);
      else trainer.stepInstrumented(x, y, step);
      step++;
      const wallMs = performance.now() - start;
      const cpu = process.cpuUsage(cpuStart);
      cpuTimes[kind].push((cpu.user + cpu.system) / 1000);
      return wallMs;
    };
    // A slow backend (stock-speed cpu takes seconds per step on the 10-conv nets) gets one
    // warm-up step per kind and shorter rounds, so the whole bench stays within minutes.
    const started = performance.now();
    let slowStepMs = Math.max(runStep('plain'), runStep('instrumented'));
    for (let i = 1; i < plan.warmup && slowStepMs < SLOW_STEP_MS; i++) slowStepMs = Math.max(runStep('plain'), runStep('instrumented'));
    const roundSize = slowStepMs < SLOW_STEP_MS ? ROUND : SLOW_ROUND;
    let capped = false;
    cpuTimes.plain.length = cpuTimes.instrumented.length = 0; // warm-up steps do not count
    for (let roundIndex = 0; times.plain.length < plan.steps; roundIndex++) {
      const order = roundIndex % 2 === 0 ? ['plain', 'instrumented'] : ['instrumented', 'plain'];
      for (const kind of order) for (let i = 0; i < roundSize; i++) times[kind].push(runStep(kind));
      if (performance.now() - started > plan.budgetMs && times.plain.length >= 2 * roundSize && times.plain.length < plan.steps) {
        capped = true;
        break;
      }
    }
    const row = {
      name,
      backend,
      engineMs: median(times.plain),
      instrumentedMs: median(times.instrumented),
      engineCpuMs: median(cpuTimes.plain),
      instrumentedCpuMs: median(cpuTimes.instrumented),
      engineMinMs: Math.min(...times.plain),
      instrumentedMinMs: Math.min(...times.instrumented),
      plainSteps: times.plain.length,
      instrumentedSteps: times.instrumented.length,
      capped,
    };
    if (flags.profile) row.profile = { plain: await profileStep(tf, () => runStep('plain')), instrumented: await profileStep(tf, () => runStep('instrumented')) };
    rows.push(row);
    trainer.dispose();
    model.dispose();
    tf.dispose(batches.flatMap((b) => [b.x, b.y]));
  }
  return { rows };
}

/** Kernel time per step by kernel name, slowest first, averaged over a few steps (one step is too noisy). */
async function profileStep(tf, step) {
  let stepMs = 0;
  const info = await tf.profile(() => {
    for (let i = 0; i < PROFILED_STEPS; i++) stepMs += step() / PROFILED_STEPS;
  });
  const byName = new Map();
  // Custom-gradient scopes ('…__op', 'unnamed scope') wrap kernels that are listed too.
  for (const kernel of info.kernels.filter((k) => !k.name.endsWith('__op') && k.name !== 'unnamed scope')) {
    const entry = byName.get(kernel.name) ?? { name: kernel.name, ms: 0, calls: 0 };
    entry.ms += kernel.kernelTimeMs / PROFILED_STEPS;
    entry.calls += 1 / PROFILED_STEPS;
    byName.set(kernel.name, entry);
  }
  const kernels = [...byName.values()].sort((a, b) => b.ms - a.ms);
  return { stepMs, kernelMs: kernels.reduce((sum, k) => sum + k.ms, 0), kernelCalls: kernels.reduce((sum, k) => sum + k.calls, 0), kernels };
}

/** Uniform images and random labels: step time does not depend on the values. */
function syntheticBatches(tf, count) {
  return Array.from({ length: count }, (_, i) => ({
    x: tf.randomUniform([BATCH_SIZE, 28, 28, 1], 0, 1, 'float32', SEED + i),
    y: tf.oneHot(tf.randomUniform([BATCH_SIZE], 0, 10, 'int32', SEED + 100 + i), 10).toFloat(),
  }));
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function fixed(value) {
  if (value === null || value === undefined) return '–';
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function round(value, digits) {
  return Number(value.toFixed(digits));
}

function progress(message) {
  process.stderr.write(`bench: ${message}\n`);
}
