// Checks the LR range test against brute force: for each network, the range test's suggested
// rate next to the best of a grid of 7 rates from 1e-4 to 1 (log-spaced), each trained from the
// same initial weights for the same steps with the same optimizer and batches. "Best" is the
// lowest mean loss over the last 10 steps. Also times the range test against one plain run of
// the same steps (the issue's cost bound: ≤ 1 plain run).
//
// A net that no grid rate trains (every final loss within 10 % of ln C) passes when the range
// test suggests no rate. Untouched by the build: rerun with `npm run build && node scripts/lr-grid.mjs`.
//
//   node scripts/lr-grid.mjs [--nets NAME,...] [--steps 100] [--optimizer adam] [--json] [--curves]
//   node scripts/lr-grid.mjs --cost-only [--rounds 3] [--nets NAME,...]   (range test vs plain run, alternated)
//
// Networks: the four benchmarked reference nets (src/engine/reference/networks.ts) and five
// healthy eval nets (test/cases). Needs `npm run build` (reads out/).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'out', 'src');
const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs');
const { selectBackend } = require(path.join(compiled, 'engine/backend.js'));
const { REFERENCE_NETWORKS } = require(path.join(compiled, 'engine/reference/networks.js'));
const { loadModelFile } = require(path.join(compiled, 'engine/model/load.js'));
const { loadDataset } = require(path.join(compiled, 'engine/data/load.js'));
const { dataForModel } = require(path.join(compiled, 'engine/train/trainLoaded.js'));
const { resolveRunOptions } = require(path.join(compiled, 'engine/train/options.js'));
const { chanceLossFor, runLrRangeTest } = require(path.join(compiled, 'engine/train/lrRange.js'));
const { Trainer } = require(path.join(compiled, 'engine/train/trainer.js'));
const { BatchSampler } = require(path.join(compiled, 'engine/train/batches.js'));

const { values: flags } = parseArgs({
  options: {
    nets: { type: 'string' },
    steps: { type: 'string', default: '100' },
    optimizer: { type: 'string', default: 'adam' },
    seed: { type: 'string', default: '42' },
    json: { type: 'boolean', default: false },
    curves: { type: 'boolean', default: false },
    'cost-only': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
  },
});

const GRID = [0, 1, 2, 3, 4, 5, 6].map((i) => Number((1e-4 * Math.pow(10, (4 * i) / 6)).toPrecision(3)));
const EVAL_NETS = ['healthy-lenet-k2', 'healthy-relu-bn-k2', 'healthy-relu-he-k3', 'healthy-residual-k2', 'healthy-tanh-shallow-k2'];
const steps = Number(flags.steps);
const seed = Number(flags.seed);

async function networks() {
  const out = [];
  for (const net of REFERENCE_NETWORKS.filter((n) => n.benchmarked)) {
    out.push({
      name: net.name,
      load: async () => {
        const model = net.build(seed);
        const data = await loadDataset('fashion-mnist', [28, 28, 1], 10, seed);
        // Reference nets end in linear logits: the loss reads them as logits.
        return { model, data, loss: 'categorical_crossentropy' };
      },
    });
  }
  for (const id of EVAL_NETS) {
    const file = path.join(root, 'test/cases', id, id.endsWith('-k3') ? 'keras3.json' : 'keras2.json');
    out.push({
      name: id,
      load: async () => {
        const loaded = await loadModelFile(file, { seed });
        const data = dataForModel(await loadDataset('auto', loaded.inputShape, loaded.numClasses, seed), loaded.model);
        return { model: loaded.model, data, loss: loaded.trainingConfig?.loss ?? 'categorical_crossentropy' };
      },
    });
  }
  const only = flags.nets?.split(',');
  return out.filter((n) => !only || only.includes(n.name));
}

/** `steps` plain steps at one rate from the model's current weights; the weights are put back. */
function plainRun(model, data, options, lr) {
  // Timed as the range test times itself: its trainer built, the weights kept and put back.
  const started = performance.now();
  const initial = model.getWeights().map((w) => w.clone());
  const trainer = new Trainer(model, { optimizer: options.optimizer, learningRate: lr, loss: options.loss, seed });
  const sampler = new BatchSampler(data, options.batchSize, seed);
  const losses = [];
  for (let i = 0; i < steps; i++) {
    const { x, y } = sampler.next();
    losses.push(trainer.stepPlain(x, y));
    x.dispose();
    y.dispose();
  }
  trainer.dispose();
  model.setWeights(initial);
  tf.dispose(initial);
  const ms = performance.now() - started;
  const tail = losses.slice(-10);
  const finalLoss = tail.some((l) => !Number.isFinite(l)) ? Infinity : tail.reduce((a, b) => a + b, 0) / tail.length;
  return { finalLoss, ms };
}

const fmt = (x) => (x === undefined ? '–' : Number.isFinite(x) ? Number(x.toPrecision(2)).toString() : String(x));

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * --cost-only: the range test against a plain run of the same steps, alternated `rounds` times
 * (order swapped each round, so the machine's drift hits both), medians compared. The machine
 * is shared: only this ratio, taken in one run, means something.
 */
async function costOnly(backend) {
  const rows = [];
  for (const net of await networks()) {
    const { model, data, loss } = await net.load();
    const resolved = resolveRunOptions({ optimizer: flags.optimizer, batchSize: 32, loss, seed, learningRate: 1e-3, steps }, undefined, net.name, backend, []);
    plainRun(model, data, resolved, 1e-3); // warm-up: kernels, wasm heap
    const rangeMs = [];
    const plainMs = [];
    let rangeSteps = 0;
    for (let round = 0; round < Number(flags.rounds); round++) {
      const measureRange = async () => {
        const range = await runLrRangeTest(model, data, resolved, {}, chanceLossFor(loss, data.numClasses));
        rangeMs.push(range.durationMs);
        rangeSteps = range.points.length;
      };
      const measurePlain = () => plainMs.push(plainRun(model, data, resolved, 1e-3).ms);
      if (round % 2 === 0) {
        await measureRange();
        measurePlain();
      } else {
        measurePlain();
        await measureRange();
      }
    }
    model.dispose();
    const row = { net: net.name, rangeMs: Math.round(median(rangeMs)), rangeSteps, plainRunMs: Math.round(median(plainMs)), costRatio: median(rangeMs) / median(plainMs) };
    rows.push(row);
    process.stderr.write(`${net.name}: range test ${row.rangeMs} ms (${rangeSteps} steps), plain run of ${steps} steps ${row.plainRunMs} ms: ${fmt(row.costRatio)}×\n`);
  }
  if (flags.json) console.log(JSON.stringify({ backend, rows }, null, 2));
  else {
    console.log(['net | range test ms (steps) | plain run ms | range / plain', '---|---|---|---', ...rows.map((r) => `${r.net} | ${r.rangeMs} (${r.rangeSteps}) | ${r.plainRunMs} | ${fmt(r.costRatio)}×`)].join('\n'));
  }
}

async function main() {
  const backend = await selectBackend('auto', { wasmDir: path.join(root, 'dist') });
  if (flags['cost-only']) return costOnly(backend);
  const rows = [];
  for (const net of await networks()) {
    const { model, data, loss } = await net.load();
    const options = { optimizer: flags.optimizer, batchSize: 32, loss, seed, learningRate: 1e-3, steps };
    const resolved = resolveRunOptions(options, undefined, net.name, backend, []);
    // Cost: one plain run at 1e-3 before and one after the range test (the first warms the
    // backend's kernels up), the range test measured against their mean.
    const before = plainRun(model, data, resolved, 1e-3);
    const range = await runLrRangeTest(model, data, resolved, {}, chanceLossFor(loss, data.numClasses));
    const after = plainRun(model, data, resolved, 1e-3);
    const plainMs = (before.ms + after.ms) / 2;
    const grid = GRID.map((lr) => ({ lr, ...plainRun(model, data, resolved, lr) }));
    const best = grid.reduce((a, b) => (b.finalLoss < a.finalLoss ? b : a));
    // One batch of 32 moves the loss by ±10 % (thresholds.ts, lossWindowSteps): grid rates within
    // 10 % (or 0.01) of the lowest final loss are as good as it, measured at these steps.
    const coBest = grid.filter((g) => g.finalLoss <= Math.max(best.finalLoss * 1.1, best.finalLoss + 0.01));
    const factorTo = (lr) => Math.max(range.suggestedLr / lr, lr / range.suggestedLr);
    const factor = range.suggestedLr ? factorTo(best.lr) : undefined;
    const coBestFactor = range.suggestedLr ? Math.min(...coBest.map((g) => factorTo(g.lr))) : undefined;
    // A net no grid rate trains (every final loss within 10 % of ln C) has no best rate: the range test should then suggest none.
    const chance = Math.log(data.numClasses);
    const untrainable = grid.every((g) => !(g.finalLoss < 0.9 * chance));
    const row = {
      net: net.name,
      suggestedLr: range.suggestedLr,
      steepestLr: range.steepestLr,
      minLossLr: range.minLossLr,
      bestGridLr: best.lr,
      coBestLrs: coBest.map((g) => g.lr),
      factor,
      coBestFactor,
      untrainable,
      within3x: untrainable ? range.suggestedLr === undefined : factor !== undefined && factor <= 3,
      within3xOfCoBest: untrainable ? range.suggestedLr === undefined : coBestFactor !== undefined && coBestFactor <= 3,
      grid: grid.map((g) => ({ lr: g.lr, finalLoss: g.finalLoss })),
      rangeMs: Math.round(range.durationMs),
      rangeSteps: range.points.length,
      plainRunMs: Math.round(plainMs),
      costRatio: range.durationMs / plainMs,
      note: range.note,
      ...(flags.curves ? { curve: range.points.map((p) => [p.lr, p.loss, p.smoothed]) } : {}),
    };
    rows.push(row);
    model.dispose();
    if (!flags.json) process.stderr.write(`${net.name}: suggested ${fmt(row.suggestedLr)}, grid best ${fmt(best.lr)} (${fmt(factor)}×), range test ${row.rangeMs} ms (${row.rangeSteps} steps) vs plain run ${row.plainRunMs} ms\n`);
  }
  if (flags.json) {
    console.log(JSON.stringify({ backend, optimizer: flags.optimizer, steps, grid: GRID, rows }, null, 2));
    return;
  }
  const lines = [
    `backend ${backend}, ${flags.optimizer}, ${steps} steps, batch 32, seed ${seed}; grid final loss = mean of the last 10 steps`,
    '',
    `net | suggested | steepest | min-loss | ${GRID.map((g) => `loss@${g}`).join(' | ')} | grid best | factor | ≤ 3× | ≤ 3× of a rate within 10 % of the best | range test ms (steps) | plain run ms | cost`,
    `---|---|---|---|${GRID.map(() => '---').join('|')}|---|---|---|---|---|---|---`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.net} | ${fmt(r.suggestedLr)} | ${fmt(r.steepestLr)} | ${fmt(r.minLossLr)} | ${r.grid.map((g) => fmt(g.finalLoss)).join(' | ')} | ${r.untrainable ? 'none (no rate trains it)' : fmt(r.bestGridLr)} | ${fmt(r.factor)} | ${r.within3x ? 'yes' : 'NO'} | ${r.within3xOfCoBest ? 'yes' : 'NO'} | ${r.rangeMs} (${r.rangeSteps}) | ${r.plainRunMs} | ${fmt(r.costRatio)}×`,
    );
  }
  lines.push('', `within 3× of the grid best: ${rows.filter((r) => r.within3x).length} of ${rows.length}; of a rate within 10 % of the best: ${rows.filter((r) => r.within3xOfCoBest).length} of ${rows.length}; range test ≤ 1 plain run: ${rows.filter((r) => r.costRatio <= 1).length} of ${rows.length} (median ${fmt(rows.map((r) => r.costRatio).sort((a, b) => a - b)[rows.length >> 1])}×)`);
  console.log(lines.join('\n'));
}

main().catch((error) => {
  console.error(error.stack ?? error.message);
  process.exitCode = 1;
});
