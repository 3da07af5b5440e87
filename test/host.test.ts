import * as path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Finding, Fix } from '../src/shared/findings';
import type { LayerInfo } from '../src/shared/model';
import type { Range } from '../src/shared/textRange';
import { DEFAULT_VIEW_SETTINGS, type ComparisonRun } from '../src/shared/viewProtocol';
import { emptyStepSeries, StepSeriesBuilder } from '../src/shared/stepSeries';
import { describeFinding, MODEL_LEVEL_RANGE, rangesIntersect } from '../src/host/diagnosticModel';
import { canApplyEdits, chooseFixes } from '../src/host/fixSelection';
import { describeEventLoopReport, EventLoopMonitor } from '../src/host/eventLoopMonitor';
import { chooseComparison, decideAnalyze } from '../src/host/runDecisions';
import { runOptionsFromSettings, viewSettingsFromSettings, engineRuntime, resolveDataSetting } from '../src/host/settingsModel';
import { UpdateThrottle } from '../src/host/updateThrottle';
import { RunHistory } from '../src/host/runHistory';

function range(startLine: number, endLine: number): Range {
  return { start: { line: startLine, character: 6 }, end: { line: endLine, character: 7 } };
}

const layers: LayerInfo[] = [
  { name: 'conv2d', className: 'Conv2D', range: range(20, 50), instrumented: true },
  { name: 'conv2d_9', className: 'Conv2D', range: range(300, 330), instrumented: true },
  { name: 'dense', className: 'Dense', range: range(340, 360), instrumented: true },
];

const useRelu: Fix = { code: 'use-relu', title: "Use 'relu' in conv2d", edits: [{ range: range(30, 30), newText: '"relu"' }] };
const addBn: Fix = { code: 'add-batch-normalization', title: 'Add BatchNormalization after conv2d', edits: [{ range: range(50, 50), newText: '{…}' }] };
const lowerLr: Fix = { code: 'lower-learning-rate', title: 'Lower the learning rate to 1e-4', edits: [], setting: { key: 'gradientLens.learningRate', value: 1e-4 } };

function finding(overrides: Partial<Finding>): Finding {
  return { code: 'vanishing-gradient', severity: 'error', message: 'm', evidence: {}, fixes: [], ...overrides };
}

test('a layer finding becomes a diagnostic on the layer definition, with code, docs link and related layers', () => {
  const description = describeFinding(
    finding({ layer: 'conv2d', step: 12, message: 'conv2d gradient RMS 3e-9, 1e-6 of the last layer', relatedLayers: ['dense', 'missing'] }),
    layers,
  );
  assert.deepEqual(description.range, layers[0]!.range);
  assert.equal(description.severity, 'error');
  assert.equal(description.code, 'vanishing-gradient');
  assert.equal(description.message, 'conv2d gradient RMS 3e-9, 1e-6 of the last layer (step 12)');
  assert.match(description.docsUrl, /#vanishing-gradient$/);
  assert.deepEqual(description.related, [{ range: layers[2]!.range, message: "related layer 'dense' (Dense)" }]);
});

test('related layers built by one line (a PyTorch block class used many times) are one related entry naming them all', () => {
  const blockLine = range(100, 130);
  const torchLayers: LayerInfo[] = [
    { name: 'stem', className: 'Conv2d', range: range(20, 50), instrumented: true },
    { name: 'blocks.0.conv', className: 'Conv2d', range: blockLine, instrumented: true },
    { name: 'blocks.1.conv', className: 'Conv2d', range: blockLine, instrumented: true },
    { name: 'fc', className: 'Linear', range: range(200, 230), instrumented: true },
  ];
  const description = describeFinding(finding({ layer: 'stem', relatedLayers: ['blocks.0.conv', 'blocks.1.conv', 'fc'] }), torchLayers);
  assert.deepEqual(description.related, [
    { range: blockLine, message: "related layers 'blocks.0.conv', 'blocks.1.conv' (Conv2d)" },
    { range: torchLayers[3]!.range, message: "related layer 'fc' (Linear)" },
  ]);
});

test('a finding without a layer, or naming an unknown one, sits at the top of the file', () => {
  assert.deepEqual(describeFinding(finding({ code: 'learning-rate-too-high' }), layers).range, MODEL_LEVEL_RANGE);
  assert.deepEqual(describeFinding(finding({ layer: 'renamed' }), layers).range, MODEL_LEVEL_RANGE);
});

test('ranges intersect inclusively, including a cursor at either end', () => {
  const cursor = (line: number, character: number): Range => ({ start: { line, character }, end: { line, character } });
  assert.ok(rangesIntersect(range(20, 50), cursor(20, 6)));
  assert.ok(rangesIntersect(range(20, 50), cursor(50, 7)));
  assert.ok(rangesIntersect(range(20, 50), cursor(35, 0)));
  assert.ok(!rangesIntersect(range(20, 50), cursor(20, 5)));
  assert.ok(!rangesIntersect(range(20, 50), cursor(51, 0)));
});

test('code actions: fixes of the findings under the cursor, most severe first, exactly one preferred, duplicates merged', () => {
  const placed = [
    { finding: finding({ code: 'saturated-activation', severity: 'info', layer: 'conv2d', fixes: [useRelu] }), range: layers[0]!.range },
    { finding: finding({ code: 'vanishing-gradient', severity: 'error', layer: 'conv2d', fixes: [useRelu, addBn] }), range: layers[0]!.range },
    { finding: finding({ code: 'learning-rate-too-high', severity: 'warning', fixes: [lowerLr] }), range: MODEL_LEVEL_RANGE },
  ];
  const choices = chooseFixes(placed, { start: { line: 25, character: 0 }, end: { line: 25, character: 0 } });
  assert.deepEqual(choices.map((c) => c.fix.code), ['use-relu', 'add-batch-normalization']);
  assert.deepEqual(choices.map((c) => c.isPreferred), [true, false]);
  assert.equal(choices[0]!.finding.code, 'vanishing-gradient');

  const atTop = chooseFixes(placed, MODEL_LEVEL_RANGE);
  assert.deepEqual(atTop.map((c) => [c.fix.code, c.isPreferred]), [['lower-learning-rate', true]]);
  assert.deepEqual(chooseFixes(placed, { start: { line: 200, character: 0 }, end: { line: 200, character: 0 } }), []);
});

test('fixes apply only to the document version the analysis saw', () => {
  assert.ok(canApplyEdits(4, 4));
  assert.ok(!canApplyEdits(4, 5));
});

test('a second Analyze while one runs asks to restart; otherwise it starts', () => {
  assert.deepEqual(decideAnalyze(undefined), { kind: 'start' });
  assert.deepEqual(decideAnalyze({ modelPath: '/w/a.json' }), { kind: 'ask-restart', runningModelPath: '/w/a.json' });
});

test('before/after: the previous run is the comparison after a fix or a re-run, not on a fresh analysis', () => {
  const recorded = new StepSeriesBuilder([]);
  recorded.append([{ step: 0, loss: 2.3, layers: [] }]);
  const previous: ComparisonRun = { label: 'previous run', layers: [], series: recorded.build(), findings: [] };
  assert.equal(chooseComparison(previous, { kind: 'fresh' }), null);
  assert.equal(chooseComparison(undefined, { kind: 'rerun' }), null);
  assert.equal(chooseComparison({ ...previous, series: emptyStepSeries() }, { kind: 'rerun' }), null);
  assert.equal(chooseComparison(previous, { kind: 'rerun' })?.label, 'previous run');
  const afterFix = chooseComparison(previous, { kind: 'after-fix', fixTitle: "Use 'relu' in conv2d" });
  assert.equal(afterFix?.label, 'before fix');
  assert.equal(afterFix?.series, previous.series);
});

test('settings become run options; unset or invalid overrides are left to the model file and defaults', () => {
  const values: Record<string, unknown> = { steps: 60, batchSize: 16, learningRate: null, optimizer: 'fromModel', data: ' auto ', seed: 7, backend: 'wasm' };
  assert.deepEqual(runOptionsFromSettings((key) => values[key]), { steps: 60, batchSize: 16, data: 'auto', seed: 7, backend: 'wasm' });
  const overrides: Record<string, unknown> = { learningRate: 1e-4, optimizer: 'sgd', steps: 0, batchSize: 2.5, backend: 'gpu', data: '' };
  assert.deepEqual(runOptionsFromSettings((key) => overrides[key]), { learningRate: 1e-4, optimizer: 'sgd' });
  assert.equal(viewSettingsFromSettings(() => undefined).chartPointBudget, 400);
  assert.equal(viewSettingsFromSettings(() => 1000).chartPointBudget, 1000);
  assert.equal(engineRuntime(() => '  '), undefined);
  assert.equal(engineRuntime(() => '/opt/node/bin/node'), '/opt/node/bin/node');
});

test('the view throttle sends the first update at once and coalesces the rest into one per interval', async () => {
  const flushed: number[][] = [];
  const throttle = new UpdateThrottle<number>(40, (items) => flushed.push(items));
  throttle.push([1]);
  assert.deepEqual(flushed, [[1]]);
  throttle.push([2]);
  throttle.push([3, 4]);
  assert.equal(flushed.length, 1, 'held back within the interval');
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.deepEqual(flushed, [[1], [2, 3, 4]]);
  throttle.push([5]);
  throttle.push([6]);
  throttle.discard();
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.deepEqual(flushed, [[1], [2, 3, 4], [5]], 'a discarded update is never sent');
  throttle.dispose();
});

test('the run history gives a snapshot with every step so far, and the report replaces live findings', () => {
  const history = new RunHistory();
  history.begin('/w/model.json', 3, null);
  assert.equal(history.snapshot(DEFAULT_VIEW_SETTINGS).status.phase, 'starting');
  history.ready(layers, 3, 'wasm');
  history.addSteps([{ step: 0, loss: 2.3, layers: [] }, { step: 1, loss: 2.2, layers: [] }]);
  history.addFinding(finding({ layer: 'conv2d' }));
  const live = history.snapshot(DEFAULT_VIEW_SETTINGS);
  assert.deepEqual([...live.series.step], [0, 1]);
  assert.deepEqual([...live.series.loss], [2.3, 2.2]);
  assert.deepEqual(live.status, { phase: 'running', step: 2, totalSteps: 3, message: 'backend wasm' });
  assert.deepEqual(live.layers.map((l) => l.name), ['conv2d', 'conv2d_9', 'dense']);

  const final = [finding({ layer: 'conv2d' }), finding({ code: 'slow-convergence', severity: 'warning' })];
  history.finish({
    schemaVersion: 1,
    model: { path: '/w/model.json', format: 'keras2', layers: [] },
    run: { backend: 'wasm', steps: 3, batchSize: 8, optimizer: 'adam', learningRate: 0.001, seed: 42, durationMs: 10, stepMsMedian: 3, stepsCompleted: 2, cancelled: true },
    history: { loss: [2.3, 2.2] },
    findings: final,
  });
  assert.equal(history.status.phase, 'cancelled');
  assert.equal(history.status.step, 2);
  assert.equal(history.findings.length, 2);
  assert.equal(history.asComparison().series.step.length, 2);
  history.clear();
  assert.equal(history.snapshot(DEFAULT_VIEW_SETTINGS).modelPath, null);
});

test('step series: typed-array columns in step order, NaN where a step lacks a layer or accuracy, exact-size buffers', () => {
  const builder = new StepSeriesBuilder(['conv2d', 'dense']);
  const layer = (name: string, gradRms: number) => ({ layer: name, gradL2: 0, gradRms, gradMeanAbs: 0, gradMaxAbs: 0, gradZeroFraction: 0, gradNonFinite: 0, weightL2: 1, updateRatio: 0 });
  const many = Array.from({ length: 100 }, (_, i) => ({ step: i + 1, loss: 2 - i / 100, accuracy: i / 100, layers: [layer('dense', 0.1), layer('conv2d', 1e-8 * (i + 1))] }));
  builder.append([{ step: 0, loss: 2.3, layers: [layer('dense', 0.05)] }]);
  builder.append(many);
  const series = builder.build();
  assert.equal(builder.length, 101);
  assert.deepEqual(series.layers, ['conv2d', 'dense']);
  assert.ok(series.gradRms instanceof Float64Array && series.step instanceof Float64Array);
  assert.equal(series.gradRms.buffer.byteLength, 101 * 2 * 8, 'no spare capacity travels with the snapshot');
  assert.ok(Number.isNaN(series.gradRms[0]), 'step 0 had no conv2d');
  assert.equal(series.gradRms[1], 0.05);
  assert.ok(Number.isNaN(series.accuracy[0]));
  assert.equal(series.gradRms[100 * 2], 1e-6);
  assert.equal(series.step[100], 100);
  assert.equal(series.latest?.step, 100);
  builder.append([{ step: 101, loss: 1, layers: [] }]);
  assert.equal(series.step.length, 101, 'a built series is a copy, not a view of the growing buffers');
});

test('a relative data setting is resolved against the workspace folder; keywords and absolute paths stay', () => {
  assert.equal(resolveDataSetting('data/train-images-idx3-ubyte.gz', '/w'), path.resolve('/w', 'data/train-images-idx3-ubyte.gz'));
  assert.equal(resolveDataSetting('fashion-mnist', '/w'), 'fashion-mnist');
  assert.equal(resolveDataSetting('/abs/x.npy', '/w'), '/abs/x.npy');
  assert.equal(resolveDataSetting(undefined, '/w'), undefined);
});

test('the thresholds setting passes only known, valid thresholds to the engine', () => {
  const read = (thresholds: unknown) => runOptionsFromSettings((key) => (key === 'thresholds' ? thresholds : undefined)).thresholds;
  assert.deepEqual(read({ vanishingRatio: 1e-4, deadFraction: 0.9 }), { vanishingRatio: 1e-4, deadFraction: 0.9 });
  assert.deepEqual(read({ vanishingRatio: -1, deadFraction: 1.5, lossWindowSteps: 3, explodingRatio: 100 }), { explodingRatio: 100 });
  assert.equal(read({}), undefined);
  assert.equal(read('strict'), undefined);
});

test('the panel draws with the same vanishing and exploding ratios as the rules', () => {
  assert.deepEqual(viewSettingsFromSettings(() => undefined).flowThresholds, { vanishingRatio: 1e-3, explodingRatio: 70 });
  const custom = viewSettingsFromSettings((key) => (key === 'thresholds' ? { vanishingRatio: 1e-5 } : undefined));
  assert.deepEqual(custom.flowThresholds, { vanishingRatio: 1e-5, explodingRatio: 70 });
});

test('loading progress before ready shows in the status as "starting" with what and how far', () => {
  const history = new RunHistory();
  history.begin('/m.json', 100, null);
  history.loading('decoding images', 128, 512);
  assert.deepEqual(history.status, { phase: 'starting', step: 0, totalSteps: 100, message: 'decoding images 128/512' });
  history.ready([], 100, 'wasm');
  assert.equal(history.status.phase, 'running');
});

test('the event-loop monitor reports a blocked main thread as a stall with the CPU it burnt, and nothing when the loop is free', async () => {
  const monitor = new EventLoopMonitor();
  monitor.start();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const free = monitor.stop();
  // Loose on purpose (CI machines are busy): an idle loop must not look like the blocked one below.
  assert.ok(free.maxMs < 100, `an idle loop measured ${free.maxMs} ms`);
  assert.ok(free.stalls.every((s) => s.gapMs < 100), JSON.stringify(free.stalls));

  monitor.start();
  await new Promise((resolve) => setTimeout(resolve, 50));
  monitor.noteHandled('step', 120);
  // Busy for 120 ms of CPU, not of wall time: on a loaded machine a 120 ms wall-clock loop may get
  // far less CPU, and the stall would look like a wait rather than work.
  const cpuStart = process.cpuUsage();
  while (process.cpuUsage(cpuStart).user < 120_000) {
    // the host's main thread busy, as a slow message handler would keep it
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  const blocked = monitor.stop();
  assert.ok(blocked.maxMs >= 100, `max ${blocked.maxMs} ms`);
  assert.deepEqual(blocked.slowestHandling, { type: 'step', ms: 120 });
  const stall = blocked.stalls.find((s) => s.gapMs >= 100);
  assert.ok(stall, JSON.stringify(blocked.stalls));
  assert.equal(stall.lastType, 'step');
  assert.ok(stall.cpuMs >= 80, `a busy stall burns CPU: ${stall.cpuMs} ms`);
  assert.match(describeEventLoopReport(blocked), /^event loop max delay \d+\.\d ms \(p99 [\d.]+ ms\); slowest engine message handled in 120\.0 ms \(step\); stalls \d+ ms \(CPU \d+ ms[^)]*\) at \+\d+ ms after step/);
});
