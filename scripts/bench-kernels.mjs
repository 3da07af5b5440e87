// `node scripts/bench-kernels.mjs`: each of the project's wasm kernels that replaces a stock
// one, against that stock kernel (or, for the BatchNorm statistics, the TF.js ops they
// replace), on the reference networks' shapes at batch 32. Calls alternate ours/stock in rounds
// so the machine's drift hits both; medians per call, and their ratio. With --swap, also whole
// training steps (plain, batch 32, Adam) of the reference networks in one process, alternating
// rounds with the project's kernels and with the named ones put back to stock: what those
// kernels save per step, by CPU time and wall time. Uses the tsc output in out/.
//
//   node scripts/bench-kernels.mjs [--rounds N] [--json] [--swap Tanh,AvgPoolGrad] [--networks lenet5,...]
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'out', 'src', 'engine');
const require = createRequire(import.meta.url);
const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '40' }, json: { type: 'boolean', default: false }, swap: { type: 'string' }, networks: { type: 'string' } },
});
const rounds = Number(flags.rounds);
const STEPS_PER_ROUND = 5;

const tf = require('@tensorflow/tfjs');
const { selectBackend } = require(path.join(compiled, 'backend.js'));
const { replacedStockKernel, CHANNEL_MOMENTS } = require(path.join(compiled, 'kernels', 'registry.js'));
await selectBackend('wasm');
const backend = tf.backend();

const pool = (x, dy, size) => ({ inputs: { dy, input: x }, attrs: { filterSize: size, strides: size, pad: 'valid' } });
const cases = [
  { kernel: 'AvgPoolGrad', shape: 'LeNet-5 pool1 [32,28,28,6] 2×2', ...pool(tf.randomNormal([32, 28, 28, 6]), tf.randomNormal([32, 14, 14, 6]), 2) },
  { kernel: 'AvgPoolGrad', shape: 'LeNet-5 pool2 [32,10,10,16] 2×2', ...pool(tf.randomNormal([32, 10, 10, 16]), tf.randomNormal([32, 5, 5, 16]), 2) },
  { kernel: 'Tanh', shape: 'LeNet-5 conv1 [32,28,28,6]', inputs: { x: tf.randomNormal([32, 28, 28, 6]) }, attrs: {} },
  { kernel: 'Tanh', shape: 'LeNet-5 conv2 [32,10,10,16]', inputs: { x: tf.randomNormal([32, 10, 10, 16]) }, attrs: {} },
  (() => {
    const x = tf.randomNormal([32, 28, 28, 8]);
    return { kernel: 'MaxPoolGrad', shape: 'small CNN pool1 [32,28,28,8] 2×2', inputs: { dy: tf.randomNormal([32, 14, 14, 8]), input: x, output: tf.maxPool(x, 2, 2, 'valid') }, attrs: { filterSize: 2, strides: 2, pad: 'valid' } };
  })(),
  { kernel: 'Conv2DBackpropInput', shape: '10-conv [32,28,28,8] 3×3 same', inputs: { dy: tf.randomNormal([32, 28, 28, 8]), filter: tf.randomNormal([3, 3, 8, 8]) }, attrs: { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: [32, 28, 28, 8] } },
  { kernel: 'Sum', shape: 'bias gradient [32,28,28,8]', inputs: { x: tf.randomNormal([32, 28, 28, 8]) }, attrs: { axis: [0, 1, 2], keepDims: false } },
  (() => {
    const x = tf.randomNormal([32, 28, 28, 8], 3, 2);
    return { kernel: CHANNEL_MOMENTS, shape: '10-conv BN [32,28,28,8] (stock: tf.moments)', inputs: { x }, attrs: {}, stockCall: () => tf.tidy(() => Object.values(tf.moments(x, [0, 1, 2]))) };
  })(),
];

function runKernel(fn, c) {
  const out = fn({ inputs: c.inputs, backend, attrs: c.attrs });
  for (const info of Array.isArray(out) ? out : [out]) backend.disposeData(info.dataId);
}

const loadBefore = os.loadavg()[0];
const results = [];
for (const c of cases) {
  const ours = tf.getKernel(c.kernel, 'wasm').kernelFunc;
  const stock = replacedStockKernel(c.kernel, 'wasm');
  if (!stock && !c.stockCall) {
    results.push({ kernel: c.kernel, shape: c.shape, oursMs: null, stockMs: null, speedup: null, note: 'the stock kernel is the one registered' });
    continue;
  }
  const callStock = c.stockCall ? () => tf.dispose(c.stockCall()) : () => runKernel(stock, c);
  const callOurs = () => runKernel(ours, c);
  for (let i = 0; i < 3; i++) { callOurs(); callStock(); }
  const times = { ours: [], stock: [] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [['ours', callOurs], ['stock', callStock]] : [['stock', callStock], ['ours', callOurs]];
    for (const [name, call] of order) {
      const start = performance.now();
      call();
      times[name].push(performance.now() - start);
    }
  }
  const oursMs = median(times.ours);
  const stockMs = median(times.stock);
  results.push({ kernel: c.kernel, shape: c.shape, oursMs, stockMs, speedup: stockMs / oursMs });
}
const steps = flags.swap ? stepsWithAndWithout(flags.swap.split(','), flags.networks ? flags.networks.split(',') : ['lenet5', 'relu-bn-10conv']) : [];
const loadAfter = os.loadavg()[0];

if (flags.json) {
  console.log(JSON.stringify({ rounds, loadAverage: { before: loadBefore, after: loadAfter }, kernels: results, steps }, null, 2));
} else {
  console.log(`wasm kernels against the stock ones they replace, medians of ${rounds} alternated calls; load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`);
  console.log('| kernel | shape | ours ms | stock ms | stock/ours |');
  console.log('|---|---|---:|---:|---:|');
  for (const r of results) {
    if (r.oursMs === null) console.log(`| ${r.kernel} | ${r.shape} | – | – | (${r.note}) |`);
    else console.log(`| ${r.kernel} | ${r.shape} | ${r.oursMs.toFixed(3)} | ${r.stockMs.toFixed(3)} | ${r.speedup.toFixed(2)}× |`);
  }
  if (steps.length) {
    console.log(`\nPlain training step with the project's kernels and with ${flags.swap} put back to stock, alternated rounds of ${STEPS_PER_ROUND} steps, medians`);
    console.log('| network | CPU ms, ours | CPU ms, stock | stock/ours (CPU) | wall ms, ours | wall ms, stock | stock/ours (wall) | steps each |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of steps) {
      console.log(`| ${r.network} | ${r.ours.cpuMs.toFixed(1)} | ${r.stock.cpuMs.toFixed(1)} | ${(r.stock.cpuMs / r.ours.cpuMs).toFixed(2)}× | ${r.ours.wallMs.toFixed(1)} | ${r.stock.wallMs.toFixed(1)} | ${(r.stock.wallMs / r.ours.wallMs).toFixed(2)}× | ${r.steps} |`);
    }
  }
}

function stepsWithAndWithout(names, networks) {
  const { Trainer } = require(path.join(compiled, 'train', 'trainer.js'));
  const { referenceNetwork } = require(path.join(compiled, 'reference', 'networks.js'));
  const configs = names.map((name) => {
    const stock = replacedStockKernel(name, 'wasm');
    if (!stock) throw new Error(`bench-kernels: ${name} replaced no stock wasm kernel here`);
    return { ...tf.getKernel(name, 'wasm'), stock, ours: tf.getKernel(name, 'wasm').kernelFunc };
  });
  const use = (kind) => {
    for (const config of configs) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel({ kernelName: config.kernelName, backendName: 'wasm', kernelFunc: config[kind], setupFunc: config.setupFunc, disposeFunc: config.disposeFunc });
    }
  };
  const rows = [];
  for (const network of networks) {
    const model = referenceNetwork(network).build(42);
    const trainer = new Trainer(model, { optimizer: 'adam', learningRate: 1e-3, loss: 'categorical_crossentropy', seed: 42 });
    const x = tf.randomUniform([32, 28, 28, 1], 0, 1, 'float32', 42);
    const y = tf.oneHot(tf.randomUniform([32], 0, 10, 'int32', 43), 10).toFloat();
    const times = { ours: { cpu: [], wall: [] }, stock: { cpu: [], wall: [] } };
    const step = (kind) => {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      trainer.stepPlain(x, y);
      const wall = performance.now() - start;
      const cpu = process.cpuUsage(cpuStart);
      times[kind].wall.push(wall);
      times[kind].cpu.push((cpu.user + cpu.system) / 1000);
    };
    for (const kind of ['stock', 'ours']) {
      use(kind);
      for (let i = 0; i < 3; i++) trainer.stepPlain(x, y);
    }
    const roundCount = Math.max(4, Math.round(rounds / 5));
    for (let r = 0; r < roundCount; r++) {
      for (const kind of r % 2 === 0 ? ['ours', 'stock'] : ['stock', 'ours']) {
        use(kind);
        for (let i = 0; i < STEPS_PER_ROUND; i++) step(kind);
      }
    }
    use('ours');
    const summary = (t) => ({ cpuMs: median(t.cpu), wallMs: median(t.wall) });
    rows.push({ network, swapped: names, steps: times.ours.wall.length, ours: summary(times.ours), stock: summary(times.stock) });
    trainer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  }
  return rows;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
