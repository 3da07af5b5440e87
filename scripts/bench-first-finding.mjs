// `npm run bench`'s time-to-first-finding section (issue 14): Analyze → the first finding on the
// vanishing samples, in the three ways an analysis starts — the CLI (a new process, which forks
// a new engine), the extension's engine started cold (forked at Analyze) and the extension's
// waiting engine (SpareEngineSlot, forked after the previous run and prepared while it waits) —
// with where the time goes: the engine's own start-up marks
// (src/engine/startupPhases.ts, read from its log) and the steps until a rule was sure. The
// configurations alternate, so drift on a shared machine hits all of them; each engine's CPU
// time (/proc, all threads, with its children: PyTorch's python) is printed beside the wall
// time, as the load bends it least.
//
// The extension runs its engines at nice 19 (src/host/analysisController.ts ENGINE_NICE). On a
// machine shared with other work that measures the other work (a nice-19 engine waited 70 s
// for its first finding at load average 9 here), so the engines run at the bench's own priority
// unless `--nice 19` asks for the extension's; the code path is the extension's either way.
//
// `--baseline DIR` adds the same two extension columns for another build's dist/ (e.g. a copy
// of main's), its waiting engine forked as before this change (no TF.js preparation), so a
// before/after ratio comes from one run.
//
//   node scripts/bench-first-finding.mjs [--repeats N] [--nice N] [--baseline DIR] [--json]     (or: node scripts/bench.mjs --only first-finding)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'out', 'src');
const require = createRequire(import.meta.url);
const SEED = 42;
const STEPS = 100;
const TFJS_SAMPLE = 'samples/vanishing-sigmoid-10conv/keras2.json';
const TORCH_SAMPLE = 'samples/pytorch/vanishing_sigmoid.py';
/** A waiting engine counts as prepared once it has used this much CPU (loading TF.js alone takes more) and then none for `SETTLED_MS`. */
const PREPARED_CPU_MS = 400;
const SETTLED_MS = 600;
const SETTLE_LIMIT_MS = 30_000;
const CLOCK_TICK_MS = 10;

/** What each configuration measures; `kind` picks the way it starts. */
const CONFIGURATIONS = [
  { label: 'TF.js sample, CLI (cold)', sample: TFJS_SAMPLE, kind: 'cli' },
  { label: 'TF.js sample, extension engine, cold', sample: TFJS_SAMPLE, kind: 'extension-cold' },
  { label: 'TF.js sample, extension engine, waiting (warm)', sample: TFJS_SAMPLE, kind: 'extension-warm' },
  { label: 'PyTorch sample, engine, cold', sample: TORCH_SAMPLE, kind: 'engine-cold' },
];

const epochNow = () => performance.timeOrigin + performance.now();

/** utime + stime of a process and its threads, in ms; undefined once it is gone. */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS;
  } catch {
    return undefined;
  }
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A process and its descendants' CPU time (the PyTorch engine trains in a python child). */
function treeCpuMs(pid) {
  return (cpuMs(pid) ?? 0) + childPids(pid).reduce((sum, child) => sum + treeCpuMs(child), 0);
}

/** Until the process's CPU time stops moving after it did its work: a waiting engine has finished preparing. */
async function settled(pid, minimumCpuMs) {
  const started = performance.now();
  let last = cpuMs(pid);
  let still = 0;
  while (performance.now() - started < SETTLE_LIMIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = cpuMs(pid);
    still = now === last ? still + 100 : 0;
    last = now;
    if (still >= SETTLED_MS && now >= minimumCpuMs) return;
  }
  throw new Error(`the waiting engine was still preparing after ${SETTLE_LIMIT_MS / 1000} s`);
}

/** The result of one Analyze: when the engine's start-up phases ended, the first step and the first finding (ms after Analyze). */
function measurement(analyzeAt, startup, firstStepAt, finding, cpu) {
  const phases = startup ? Object.fromEntries(Object.entries(startup.phases).map(([phase, ms]) => [phase, startup.originEpochMs + ms - analyzeAt])) : {};
  if (startup) phases.process = startup.originEpochMs - analyzeAt;
  return {
    phases,
    firstStepMs: firstStepAt === undefined ? null : firstStepAt - analyzeAt,
    firstFindingMs: finding ? finding.at - analyzeAt : null,
    code: finding?.code ?? null,
    decidedAfterSteps: finding?.steps ?? null,
    cpuMs: cpu ?? null,
  };
}

/** The configurations, with the baseline build's extension engines when `baseline` (its dist folder) is given. */
export function firstFindingConfigurations(baseline) {
  if (!baseline) return CONFIGURATIONS;
  const enginePath = path.join(path.resolve(baseline), 'engine.js');
  return [
    ...CONFIGURATIONS,
    { label: `before (${baseline}): extension engine, cold`, sample: TFJS_SAMPLE, kind: 'extension-cold', enginePath },
    { label: `before: extension engine, waiting (forked only)`, sample: TFJS_SAMPLE, kind: 'extension-warm', enginePath, preload: false },
  ];
}

async function viaEngine(config, nice) {
  const { EngineProcess } = require(path.join(compiled, 'engine', 'runner.js'));
  const { SpareEngineSlot } = require(path.join(compiled, 'host', 'spareEngine.js'));
  const { parseStartupLog, preloadTfjsEnv } = require(path.join(compiled, 'engine', 'startupPhases.js'));
  const enginePath = config.enginePath ?? path.join(root, 'dist', 'engine.js');
  const extension = config.kind.startsWith('extension');
  // As src/host/analysisController.ts makes them: low priority, TF.js made ready in a waiting one.
  const create = (execPath, waiting) =>
    new EngineProcess({
      enginePath,
      execPath,
      ...(extension && nice !== undefined ? { backgroundNice: nice } : {}),
      ...(waiting?.preloadTfjs ? { env: preloadTfjsEnv() } : {}),
    });
  let engine;
  let cpuBefore = 0;
  if (config.kind === 'extension-warm') {
    const slot = new SpareEngineSlot(create, () => true, { delayMs: 0, idleMs: 10 * 60_000 });
    slot.replenish(undefined, config.preload !== false);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await settled(slot.waiting.pid, config.preload === false ? 0 : PREPARED_CPU_MS);
    const taken = slot.take(undefined);
    if (!taken.prepared) throw new Error('the waiting engine was not prepared');
    engine = taken.engine;
    cpuBefore = treeCpuMs(engine.pid);
  } else {
    engine = create(undefined);
  }
  const analyzeAt = epochNow();
  let startup;
  let firstStepAt;
  let finding;
  let cpu;
  engine.onMessage((msg) => {
    if (msg.type === 'log') startup ??= parseStartupLog(msg.message);
    if (msg.type === 'step') firstStepAt ??= epochNow();
    if (msg.type === 'finding' && !finding) {
      finding = { at: epochNow(), code: msg.finding.code, steps: msg.finding.evidence?.steps ?? null };
      cpu = treeCpuMs(engine.pid) - cpuBefore;
      void engine.cancel();
    }
  });
  await engine.start(path.join(root, config.sample), { steps: STEPS, seed: SEED });
  await engine.dispose();
  return measurement(analyzeAt, startup, firstStepAt, finding, cpu);
}

/** The CLI as a user runs it, its stderr a pipe: the finding is the `found …` line; the engine's log comes with GRADIENT_LENS_DEBUG. */
async function viaCli(config) {
  const { parseStartupLog } = require(path.join(compiled, 'engine', 'startupPhases.js'));
  const analyzeAt = epochNow();
  const cli = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), 'analyze', path.join(root, config.sample), '--steps', String(STEPS), '--seed', String(SEED)], {
    env: { ...process.env, GRADIENT_LENS_DEBUG: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let startup;
  let firstStepAt;
  let finding;
  let cpu;
  let pending = '';
  cli.stderr.setEncoding('utf8');
  cli.stderr.on('data', (chunk) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      if (line.startsWith('engine: ')) startup ??= parseStartupLog(line.slice('engine: '.length));
      if (/^step \d+\//.test(line)) firstStepAt ??= epochNow();
      const found = /^found \w+ ([\w-]+) \(.*after (\d+) steps\)/.exec(line);
      if (found && !finding) {
        finding = { at: epochNow(), code: found[1], steps: Number(found[2]) };
        cpu = treeCpuMs(cli.pid);
        cli.kill('SIGINT');
      }
    }
  });
  await new Promise((resolve) => cli.on('exit', resolve));
  // The CLI's "step N/100" lines come every 10 %: its first step is the engine's own.
  return measurement(analyzeAt, startup, undefined, finding, cpu);
}

/** Every configuration `repeats` times, alternating; per configuration the run of median time to the first finding. */
export async function benchFirstFinding({ repeats = 3, nice, baseline, progress = () => {} } = {}) {
  const loadBefore = os.loadavg()[0];
  const configurations = firstFindingConfigurations(baseline);
  const runs = configurations.map(() => []);
  for (let round = 0; round < repeats; round++) {
    for (const [i, config] of configurations.entries()) {
      progress(`first finding: ${config.label} (${round + 1}/${repeats})…`);
      try {
        runs[i].push(config.kind === 'cli' ? await viaCli(config) : await viaEngine(config, nice));
      } catch (error) {
        runs[i].push({ error: error.message });
      }
    }
  }
  const rows = configurations.map((config, i) => {
    const ok = runs[i].filter((r) => r.firstFindingMs !== null && r.firstFindingMs !== undefined).sort((a, b) => a.firstFindingMs - b.firstFindingMs);
    const median = ok[(ok.length - 1) >> 1];
    return {
      ...config,
      runs: runs[i].length,
      failed: runs[i].length - ok.length,
      errors: runs[i].filter((r) => r.error).map((r) => r.error),
      firstFindingMs: ok.map((r) => Math.round(r.firstFindingMs)),
      cpuMs: ok.map((r) => r.cpuMs),
      median: median ?? null,
    };
  });
  return { rows, repeats, extensionNice: nice ?? null, loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number(os.loadavg()[0].toFixed(2)) } };
}

/** Where the median run's time went: each start-up phase's part after Analyze (a waiting engine did the rest before it). */
export function phaseDurations(run) {
  const order = ['process', 'node', 'tfjs', 'backend', 'request', 'model', 'data', 'ready'];
  const ends = order.filter((phase) => run.phases[phase] !== undefined).map((phase) => [phase, run.phases[phase]]);
  if (run.firstStepMs !== null) ends.push(['first step', run.firstStepMs]);
  if (run.firstFindingMs !== null) ends.push(['finding', run.firstFindingMs]);
  ends.sort((a, b) => a[1] - b[1]);
  const durations = {};
  let previous = 0;
  for (const [phase, end] of ends) {
    durations[phase] = Math.max(0, end - Math.max(previous, 0));
    previous = Math.max(previous, end);
  }
  return durations;
}

const PHASE_ROWS = [
  ['process', 'to the engine process (CLI start, fork)'],
  ['node', 'Node start, engine bundle loaded'],
  ['request', 'start request received'],
  ['tfjs', 'TF.js loaded'],
  ['backend', 'backend initialised'],
  ['model', 'model parsed and built'],
  ['data', 'data prepared'],
  ['ready', 'trainer ready'],
  ['first step', 'first step done'],
  ['finding', 'steps until the rule is sure'],
];

export function printFirstFinding(result) {
  const { rows } = result;
  const cell = (ms) => (ms === undefined || ms === null ? '–' : ms < 0.5 ? '0' : ms.toFixed(0));
  const priority = result.extensionNice === null ? 'extension engines at the bench\'s priority (--nice 19: the extension\'s)' : `extension engines at nice ${result.extensionNice}`;
  console.log(`\nAnalyze → first finding (${STEPS}-step runs, seed ${SEED}), median of ${result.repeats} alternating runs, ${priority}; load average ${result.loadAverage.before} before, ${result.loadAverage.after} after`);
  console.log(`| | ${rows.map((r) => r.label).join(' | ')} |`);
  console.log(`|---|${rows.map(() => '---:').join('|')}|`);
  const durations = rows.map((r) => (r.median ? phaseDurations(r.median) : {}));
  for (const [phase, title] of PHASE_ROWS) {
    if (durations.every((d) => d[phase] === undefined)) continue;
    console.log(`| ${title}, ms | ${durations.map((d) => cell(d[phase])).join(' | ')} |`);
  }
  console.log(`| **first finding, s** (all runs) | ${rows.map((r) => (r.median ? `**${(r.median.firstFindingMs / 1000).toFixed(2)}** (${r.firstFindingMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')})` : '–')).join(' | ')} |`);
  console.log(`| engine CPU time to it, s | ${rows.map((r) => (r.median?.cpuMs == null ? '–' : (r.median.cpuMs / 1000).toFixed(2))).join(' | ')} |`);
  console.log(`| finding (decided after steps) | ${rows.map((r) => (r.median ? `${r.median.code} (${r.median.decidedAfterSteps})` : 'none')).join(' | ')} |`);
  for (const r of rows.filter((row) => row.failed > 0)) console.log(`note: ${r.label}: ${r.failed} of ${r.runs} runs gave no finding${r.errors.length ? ` (${r.errors.join('; ')})` : ''}`);
  console.log('A phase done before Analyze (by the waiting engine) reads 0; the CLI row\'s first phase includes starting the CLI itself. CPU time: the engine process with its children (and the CLI) from Analyze to the finding.');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { repeats: { type: 'string', default: '3' }, nice: { type: 'string' }, baseline: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const result = await benchFirstFinding({ repeats: Number(values.repeats), nice: values.nice === undefined ? undefined : Number(values.nice), baseline: values.baseline, progress: (m) => process.stderr.write(`bench: ${m}\n`) });
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else printFirstFinding(result);
}
