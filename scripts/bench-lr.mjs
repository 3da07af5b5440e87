// The learning-rate section of `npm run bench` (issue 13's two cost bounds), also runnable alone:
//
//   node scripts/bench-lr.mjs [--quick] [--json] [--rounds N] [--compare-only] [--against OTHER/dist/cli.js]
//                                                       (after npm run build)
//
// 1. `--compare-fixes` on the vanishing sample against one plain `analyze` of the same sample and
//    steps: both through the CLI (dist/cli.js) as a user runs them, alternated in rounds (order
//    swapped each round, so the machine's drift hits both). Wall time is the bound (< 3×); the CPU
//    time of the whole process tree (GNU time, children included) says how much work it was, and
//    CPU / wall how many cores it kept busy. `--against` adds another build's --compare-fixes to
//    the same rounds (e.g. the main branch's, built elsewhere), so a change is measured side by side.
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
function timeCli(extra, cli = CLI) {
  const args = [cli, 'analyze', SAMPLE, '--format', 'json', ...extra];
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

/** One --compare-fixes run's figures against the round's plain run. */
function compareFigures(compare, plain) {
  return {
    compareWallS: compare.wallS,
    wallRatio: compare.wallS / plain.wallS,
    compareCpuS: compare.cpuS,
    cpuRatio: plain.cpuS && compare.cpuS ? compare.cpuS / plain.cpuS : null,
    coresBusy: compare.cpuS ? compare.cpuS / compare.wallS : null,
    ranked: compare.report.comparison?.candidates.filter((c) => c.rank > 0).length ?? 0,
    parallel: compare.report.comparison?.parallel ?? null,
  };
}

/**
 * `--compare-fixes` against a plain run of the same sample and steps, `rounds` rounds, the order
 * within a round rotated each round (so the machine's drift hits each alike); with `againstCli`,
 * that build's --compare-fixes runs in the same rounds.
 */
export function measureCompareFixes(rounds, againstCli) {
  const pairs = [];
  const kinds = againstCli ? ['plain', 'compare', 'against'] : ['plain', 'compare'];
  for (let round = 0; round < rounds; round++) {
    const load = os.loadavg()[0];
    const timed = {};
    const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]);
    for (const kind of round % 2 === 0 ? order : order.reverse()) {
      timed[kind] = kind === 'plain' ? timeCli([]) : timeCli(['--compare-fixes'], kind === 'against' ? againstCli : CLI);
    }
    const { plain, compare, against } = timed;
    const pair = { plainWallS: plain.wallS, plainCpuS: plain.cpuS, ...compareFigures(compare, plain), loadAverage: load };
    if (against) pair.against = compareFigures(against, plain);
    pairs.push(pair);
    const also = against ? `; --against: ${fixed(against.wallS, 1)} s (${fixed(pair.against.wallRatio)}×, CPU ${fixed(pair.against.cpuRatio)}×)` : '';
    process.stderr.write(`compare-fixes round ${round + 1}: ${fixed(compare.wallS, 1)} s against a plain run's ${fixed(plain.wallS, 1)} s (${fixed(pair.wallRatio)}×, CPU ${fixed(pair.cpuRatio)}×), ${pair.ranked} candidates ranked${also}, load ${fixed(load)}\n`);
  }
  const result = { sample: SAMPLE, pairs, medianWallRatio: median(pairs.map((p) => p.wallRatio)), medianCpuRatio: median(pairs.map((p) => p.cpuRatio ?? NaN)) };
  if (againstCli) {
    result.against = { cli: againstCli, medianWallRatio: median(pairs.map((p) => p.against.wallRatio)), medianCpuRatio: median(pairs.map((p) => p.against.cpuRatio ?? NaN)) };
  }
  return result;
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
export async function learningRateBench({ quick = false, rounds, compareOnly = false, againstCli } = {}) {
  const loadBefore = os.loadavg()[0];
  const compare = measureCompareFixes(rounds ?? (quick ? 1 : 3), againstCli);
  const range = compareOnly ? undefined : measureRangeTest(quick ? 1 : 3);
  return { compareFixes: compare, rangeTest: range, loadAverage: { before: loadBefore, after: os.loadavg()[0] } };
}

export function printLearningRateBench(result) {
  const { compareFixes: c, rangeTest: r } = result;
  const lines = [
    '',
    `Learning rate (issue 13): --compare-fixes on ${c.sample} against one plain analyze, same steps (bound < 3×), alternated; load average ${fixed(result.loadAverage.before)} → ${fixed(result.loadAverage.after)}`,
    '',
    '| round | plain s | compare-fixes s | wall ratio | plain CPU s | compare-fixes CPU s | CPU ratio | cores busy | candidates ranked | at once | load |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...c.pairs.map((p, i) => `| ${i + 1} | ${fixed(p.plainWallS, 1)} | ${fixed(p.compareWallS, 1)} | ${fixed(p.wallRatio)}× | ${fixed(p.plainCpuS, 1)} | ${fixed(p.compareCpuS, 1)} | ${fixed(p.cpuRatio)}× | ${fixed(p.coresBusy)} | ${p.ranked} | ${p.parallel} | ${fixed(p.loadAverage)} |`),
    '',
    `Median wall ratio ${fixed(c.medianWallRatio)}×, CPU ratio ${fixed(c.medianCpuRatio)}×.`,
  ];
  if (c.against) {
    lines.push(
      '',
      `The same rounds, --compare-fixes of ${c.against.cli}: median wall ratio ${fixed(c.against.medianWallRatio)}×, CPU ratio ${fixed(c.against.medianCpuRatio)}×`,
      '',
      '| round | compare-fixes s | wall ratio | CPU s | CPU ratio | cores busy | candidates ranked |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      ...c.pairs.map((p, i) => `| ${i + 1} | ${fixed(p.against.compareWallS, 1)} | ${fixed(p.against.wallRatio)}× | ${fixed(p.against.compareCpuS, 1)} | ${fixed(p.against.cpuRatio)}× | ${fixed(p.against.coresBusy)} | ${p.against.ranked} |`),
    );
  }
  if (!r) {
    console.log(lines.join('\n'));
    return;
  }
  lines.push(
    '',
    `The range test against one plain run of 100 steps (bound ≤ 1×), ${r.backend}, medians of alternated rounds:`,
    '',
    '| network | range test ms (steps) | plain run ms | range / plain |',
    '|---|---:|---:|---:|',
    ...r.rows.map((row) => `| ${row.net} | ${row.rangeMs} (${row.rangeSteps}) | ${row.plainRunMs} | ${fixed(row.costRatio)}× |`),
  );
  console.log(lines.join('\n'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const valueOf = (flag) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const rounds = valueOf('--rounds') === undefined ? undefined : Number(valueOf('--rounds'));
  const againstCli = valueOf('--against') === undefined ? undefined : path.resolve(valueOf('--against'));
  const result = await learningRateBench({ quick: argv.includes('--quick'), rounds, compareOnly: argv.includes('--compare-only'), againstCli });
  if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else printLearningRateBench(result);
}
