// `npm run bench`'s PyTorch overhead section: what Gradient Lens adds to a PyTorch training step,
// on every interpreter here that has torch (Debian's /usr/bin/python3 with torch 1.13, the
// project's venv with torch 2.x): the short run's instrumented step against the plain step
// (scripts/torch/bench_trainer.py) and watch(every=10) / watch(every=1) against a plain loop, in
// one process and on 2 DDP ranks over gloo on 127.0.0.1 (scripts/watch_overhead.py), all in one
// run so the figures sit side by side. An interpreter without torch is named and skipped; none at
// all leaves the section empty with a note, and the bench goes on.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TIMEOUT_MS = 30 * 60_000;

function interpreters(root) {
  const venv = process.env.GRADIENT_LENS_VENV ?? path.join(root, '.cache', 'venv');
  return [
    ['torch 1.13 (Debian)', '/usr/bin/python3'],
    ['torch 2.x (venv)', path.join(venv, 'bin', 'python')],
  ];
}

function torchVersion(python) {
  if (!existsSync(python)) return null;
  const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

function runJson(python, script, args, cwd) {
  const result = spawnSync(python, [script, ...args], { cwd, encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    const why = result.error ? String(result.error.message) : String(result.stderr).trim().split('\n').slice(-2).join(' ');
    return { error: `${path.basename(script)} failed: ${why}` };
  }
  try {
    return JSON.parse(result.stdout.trim().split('\n').pop());
  } catch {
    return { error: `${path.basename(script)} printed no JSON result` };
  }
}

/**
 * Measures every interpreter in turn. `networks`: the reference networks for the trainer;
 * `watchNetworks`: those for watch() (each configuration trains its own copy, four of them).
 */
export function measurePytorchOverhead({ root, networks, watchNetworks = networks, quick = false, progress = () => {} }) {
  const trainerSteps = quick ? '30' : '100';
  const watchArgs = quick ? ['--rounds', '4', '--block', '10'] : ['--rounds', '8', '--block', '10'];
  const results = [];
  const notes = [];
  for (const [label, python] of interpreters(root)) {
    const torch = torchVersion(python);
    if (!torch) {
      notes.push(`PyTorch overhead: ${python} has no torch (${label}): not measured`);
      continue;
    }
    const entry = { label, python, torch };
    progress(`${label}: the PyTorch trainer, instrumented against plain…`);
    entry.trainer = runJson(python, path.join(root, 'scripts', 'torch', 'bench_trainer.py'), [...networks, '--steps', trainerSteps], path.join(root, 'scripts', 'torch'));
    for (const ranks of [1, 2]) {
      progress(`${label}: watch() overhead, ${ranks} process${ranks > 1 ? 'es (DDP, gloo)' : ''}…`);
      entry[ranks === 1 ? 'watch' : 'watchDdp'] = runJson(python, path.join(root, 'scripts', 'watch_overhead.py'),
        ['--nets', watchNetworks.join(','), '--ranks', String(ranks), '--json', ...watchArgs], root);
    }
    results.push(entry);
  }
  if (results.length === 0) notes.push('PyTorch overhead: no interpreter with torch (apt-get install python3-torch, or scripts/setup-python.sh for the venv)');
  return { interpreters: results, notes };
}

const times = (value) => (typeof value === 'number' ? `${value.toFixed(2)}×` : '–');

export function printPytorchOverhead(result, loadAverage) {
  console.log('\nPyTorch overhead (1 thread per process; ratios to the plain step, wall time / CPU time of the thread)');
  if (loadAverage) console.log(`load average ${loadAverage}`);
  for (const note of result.notes) console.log(`  ${note}`);
  if (result.interpreters.length === 0) return;
  const networks = [...new Set(result.interpreters.flatMap((entry) => Object.keys(entry.trainer?.networks ?? {})))];
  const watchNetworks = [...new Set(result.interpreters.flatMap((entry) => Object.keys(entry.watch?.networks ?? {})))];
  console.log('| network | torch | trainer: instrumented / plain | watch every=10 | watch every=1 | 2 DDP ranks every=10 | 2 DDP ranks every=1 | watch: plain again (noise) |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const name of [...new Set([...networks, ...watchNetworks])]) {
    for (const entry of result.interpreters) {
      const trainer = entry.trainer?.networks?.[name];
      const single = entry.watch?.networks?.[name];
      const ddp = entry.watchDdp?.networks?.[name];
      const pair = (row) => (row ? `${times(row.ratio)} / ${times(row.cpuRatio)}${typeof row.stepRatio === 'number' ? ` (per step ${times(row.stepRatio)})` : ''}` : '–');
      console.log(`| ${name} | ${entry.torch} | ${trainer ? `${times(trainer.overhead)} / ${times(trainer.cpuOverhead)}` : '–'} | ${pair(single?.['every=10'])} | ${pair(single?.['every=1'])} | ${pair(ddp?.['every=10'])} | ${pair(ddp?.['every=1'])} | ${pair(single?.['plain again'])} |`);
    }
  }
  for (const entry of result.interpreters) {
    for (const key of ['trainer', 'watch', 'watchDdp']) if (entry[key]?.error) console.log(`  ${entry.label}: ${entry[key].error}`);
    const rows = Object.entries(entry.trainer?.networks ?? {});
    if (entry.trainer?.allocator && rows.length > 0) {
      const faults = rows.map(([name, row]) => `${name} ${Math.round(row.plainFaults ?? 0)}/${Math.round(row.instrumentedFaults ?? 0)}`).join(', ');
      console.log(`  trainer, torch ${entry.torch}: C allocator ${entry.trainer.allocator} (as the trainer runs); minor page faults a step, plain/instrumented: ${faults}`);
    }
  }
  console.log('watch "per step": the median logged and unlogged steps (CPU time) weighted as watch() runs them, against the median plain step (block means hold one logged step in ten: their noise exceeds a 3 % bound).');
  console.log('Targets (issues 10, 12): trainer ≤ 1.10×; watch every=10 ≤ 1.03×, every=1 ≤ 1.10×, one process and 2 DDP ranks.');
}

// `node scripts/bench-pytorch.mjs [--quick]`: this section alone, on the four reference networks.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const { cpus, loadavg } = await import('node:os');
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const before = loadavg()[0].toFixed(2);
  const result = measurePytorchOverhead({
    root, networks: ['small-cnn', 'sigmoid-10conv', 'relu-bn-10conv', 'lenet5'], quick: process.argv.includes('--quick'),
    progress: (message) => process.stderr.write(`${message}\n`),
  });
  printPytorchOverhead(result, `${before} before, ${loadavg()[0].toFixed(2)} after (${cpus().length} cores)`);
}
