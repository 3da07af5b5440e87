// The learning-rate section of `npm run bench` (issue 13's two cost bounds), also runnable alone:
//
//   node scripts/bench-lr.mjs [--quick] [--json]        (after npm run build)
//
// 1. `--compare-fixes` on the vanishing sample against one plain `analyze` of the same sample and
//    steps: both through the CLI (dist/cli.js) as a user runs them, alternated in rounds (order
//    swapped each round, so the machine's drift hits both). Wall time is the bound (< 3×); the CPU
//    time of the whole process tree (GNU time, children included) says how much work it was.
// 2. The LR range test against one plain run of 100 steps on each reference network, alternated
//    (scripts/lr-grid.mjs --cost-only): the bound is ≤ 1.
// The machine is shared: only ratios taken in one run mean something; the load average is printed beside them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(root, 'dist', 'cli.js');
const SAMPLE = 'samples/vanishing-sigmoid-10conv/keras2.json';
const GNU_TIME = '/usr/bin/time';

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const fixed = (value, digits = 2) => (value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits));

/** One CLI analysis: wall seconds, and CPU seconds of it and its engines when GNU time is there. */
function timeCli(extra) {
  const args = [CLI, 'analyze', SAMPLE, '--format', 'json', ...extra];
  const timed = existsSync(GNU_TIME);
  const started = performance.now();
  const result = timed
    ? spawnSync(GNU_TIME, ['-f', 'GL_CPU %U %S', process.execPath, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 })
    : spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const wallS = (performance.now() - started) / 1000;
  const cpu = /GL_CPU ([\d.]+) ([\d.]+)/.exec(result.stderr ?? '');
  let report;
  try {
    report = JSON.parse(result.stdout);
  } catch {
    throw new Error(`analyze ${extra.join(' ')} gave no report: ${(result.stderr ?? '').slice(-500)}`);
  }
  return { wallS, cpuS: cpu ? Number(cpu[1]) + Number(cpu[2]) : null, report };
}

/** `--compare-fixes` against a plain run of the same sample and steps, `rounds` alternated pairs. */
export function measureCompareFixes(rounds) {
  const pairs = [];
  for (let round = 0; round < rounds; round++) {
    const load = os.loadavg()[0];
    const runPlain = () => timeCli([]);
    const runCompare = () => timeCli(['--compare-fixes']);
    let plain;
    let compare;
    if (round % 2 === 0) {
      plain = runPlain();
      compare = runCompare();
    } else {
      compare = runCompare();
      plain = runPlain();
    }
    const ranked = compare.report.comparison?.candidates.filter((c) => c.rank > 0).length ?? 0;
    pairs.push({
      plainWallS: plain.wallS,
      compareWallS: compare.wallS,
      wallRatio: compare.wallS / plain.wallS,
      plainCpuS: plain.cpuS,
      compareCpuS: compare.cpuS,
      cpuRatio: plain.cpuS && compare.cpuS ? compare.cpuS / plain.cpuS : null,
      ranked,
      parallel: compare.report.comparison?.parallel ?? null,
      loadAverage: load,
    });
    process.stderr.write(`compare-fixes round ${round + 1}: ${fixed(compare.wallS, 1)} s against a plain run's ${fixed(plain.wallS, 1)} s (${fixed(compare.wallS / plain.wallS)}×), ${ranked} candidates ranked, load ${fixed(load)}\n`);
  }
  return { sample: SAMPLE, pairs, medianWallRatio: median(pairs.map((p) => p.wallRatio)) };
}

/** The range test against a plain 100-step run on each reference network (lr-grid.mjs --cost-only). */
export function measureRangeTest(rounds) {
  const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'lr-grid.mjs'), '--cost-only', '--json', '--rounds', String(rounds), '--nets', 'small-cnn,sigmoid-10conv,relu-bn-10conv,lenet5'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (result.status !== 0) throw new Error(`lr-grid.mjs --cost-only failed: ${(result.stderr ?? '').slice(-500)}`);
  return JSON.parse(result.stdout);
}

/** Both measurements, for bench.mjs (or this script alone). */
export async function learningRateBench({ quick = false } = {}) {
  const loadBefore = os.loadavg()[0];
  const compare = measureCompareFixes(quick ? 1 : 3);
  const range = measureRangeTest(quick ? 1 : 3);
  return { compareFixes: compare, rangeTest: range, loadAverage: { before: loadBefore, after: os.loadavg()[0] } };
}

export function printLearningRateBench(result) {
  const { compareFixes: c, rangeTest: r } = result;
  const lines = [
    '',
    `Learning rate (issue 13): --compare-fixes on ${c.sample} against one plain analyze, same steps (bound < 3×), alternated; load average ${fixed(result.loadAverage.before)} → ${fixed(result.loadAverage.after)}`,
    '',
    '| round | plain s | compare-fixes s | wall ratio | plain CPU s | compare-fixes CPU s | CPU ratio | candidates ranked | at once | load |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...c.pairs.map((p, i) => `| ${i + 1} | ${fixed(p.plainWallS, 1)} | ${fixed(p.compareWallS, 1)} | ${fixed(p.wallRatio)}× | ${fixed(p.plainCpuS, 1)} | ${fixed(p.compareCpuS, 1)} | ${fixed(p.cpuRatio)}× | ${p.ranked} | ${p.parallel} | ${fixed(p.loadAverage)} |`),
    '',
    `The range test against one plain run of 100 steps (bound ≤ 1×), ${r.backend}, medians of alternated rounds:`,
    '',
    '| network | range test ms (steps) | plain run ms | range / plain |',
    '|---|---:|---:|---:|',
    ...r.rows.map((row) => `| ${row.net} | ${row.rangeMs} (${row.rangeSteps}) | ${row.plainRunMs} | ${fixed(row.costRatio)}× |`),
  ];
  console.log(lines.join('\n'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const result = await learningRateBench({ quick });
  if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else printLearningRateBench(result);
}
