import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { docsLink, FINDING_CODES } from '../src/shared/codes';
import type { LayerInfo } from '../src/shared/model';
import type { Report } from '../src/shared/report';
import type { LayerStepStats, StepStats } from '../src/shared/stats';
import { formatReport } from '../src/engine/report/index';
import { layerSummaryFrom } from '../src/engine/report/layerSummary';
import { formatNumber } from '../src/engine/report/numbers';

// ──── A realistic run: a 3-conv sigmoid net whose first layers' gradients vanish ────

const LAYERS: LayerInfo[] = [
  { name: 'input_1', className: 'InputLayer', range: range(3, 6, 9, 7) },
  { name: 'conv2d', className: 'Conv2D', range: range(10, 6, 22, 7), activation: 'sigmoid', instrumented: true },
  { name: 'conv2d_1', className: 'Conv2D', range: range(23, 6, 35, 7), activation: 'sigmoid', instrumented: true },
  { name: 'flatten', className: 'Flatten', range: range(36, 6, 40, 7) },
  { name: 'dense', className: 'Dense', range: range(41, 6, 50, 7), activation: 'softmax', instrumented: true },
];

function range(startLine: number, startCharacter: number, endLine: number, endCharacter: number) {
  return { start: { line: startLine, character: startCharacter }, end: { line: endLine, character: endCharacter } };
}

function layerStats(layer: string, gradRms: number, extra: Partial<LayerStepStats> = {}): LayerStepStats {
  return { layer, gradL2: gradRms * 30, gradRms, gradMeanAbs: gradRms * 0.8, gradMaxAbs: gradRms * 4, gradZeroFraction: 0, gradNonFinite: 0, weightL2: 3, updateRatio: 1e-3, ...extra };
}

const HISTORY: StepStats[] = Array.from({ length: 20 }, (_, step) => ({
  step,
  loss: 2.31 - step * 0.001,
  accuracy: 0.1,
  layers: [
    layerStats('conv2d', 3e-9 * (1 + step / 10), { saturatedFraction: 0.02 * step }),
    layerStats('conv2d_1', 4e-6, { saturatedFraction: 0.25 }),
    layerStats('dense', 0.02 + step * 0.001, { deadFraction: undefined }),
  ],
}));

function realisticReport(modelPath: string): Report {
  return {
    schemaVersion: 1,
    model: { path: modelPath, format: 'keras2', layers: LAYERS.map(({ name, className, range }) => ({ name, className, range })) },
    run: { backend: 'wasm', steps: 20, batchSize: 32, optimizer: 'adam', learningRate: 0.001, seed: 42, durationMs: 2350, stepMsMedian: 31.4, loss: 'categorical_crossentropy', data: 'fashion-mnist', stepsCompleted: 20, cancelled: false },
    history: { loss: HISTORY.map((s) => s.loss), accuracy: HISTORY.map((s) => s.accuracy ?? 0) },
    findings: [
      {
        code: 'vanishing-gradient',
        severity: 'error',
        layer: 'conv2d',
        step: 19,
        message: 'conv2d gradient RMS 5.7e-9 is 1.5e-7 of the last layer\'s; loss stuck at 2.29',
        evidence: { firstLastRatio: 1.5e-7, gradRms: 5.7e-9 },
        fixes: [
          { code: 'use-relu', title: 'Use ReLU instead of sigmoid in 2 hidden layers', edits: [{ range: range(15, 20, 15, 29), newText: '"relu"' }] },
          { code: 'add-batch-normalization', title: 'Add BatchNormalization after conv2d', edits: [] },
        ],
      },
      {
        code: 'saturated-activation',
        severity: 'warning',
        layer: 'conv2d_1',
        message: 'conv2d_1: 25% of sigmoid outputs in the flat tails | more',
        evidence: { saturatedFraction: 0.25 },
        fixes: [],
      },
      {
        code: 'learning-rate-too-low',
        severity: 'info',
        message: 'updates are 1e-6 of the weights',
        evidence: { updateRatio: 1e-6 },
        fixes: [{ code: 'raise-learning-rate', title: 'Raise the learning rate to 0.01', edits: [], setting: { key: 'gradientLens.learningRate', value: 0.01 } }],
      },
    ],
    layerSummary: layerSummaryFrom(HISTORY, LAYERS),
    verifications: [
      {
        findingCode: 'vanishing-gradient',
        fixCode: 'use-relu',
        layer: 'conv2d',
        before: { finalLoss: 2.29, firstLastRatio: 1.5e-7, deadFraction: 0 },
        after: { finalLoss: 0.71, firstLastRatio: 0.83, deadFraction: 0.12 },
        remaining: [],
      },
    ],
    warnings: ['the model file carries no weights: initializers were used'],
  };
}

// ──── layerSummaryFrom ────

test('layerSummaryFrom gives one row per instrumented layer with first/last RMS, ratio to the last layer and activation health', () => {
  const rows = layerSummaryFrom(HISTORY, LAYERS);
  assert.deepEqual(rows.map((r) => r.name), ['conv2d', 'conv2d_1', 'dense']);
  assert.deepEqual(rows.map((r) => r.className), ['Conv2D', 'Conv2D', 'Dense']);
  assert.equal(rows[0].gradRmsFirst, 3e-9);
  assert.ok(Math.abs(rows[0].gradRmsLast - 3e-9 * 2.9) < 1e-20);
  assert.ok(Math.abs(rows[0].ratioToLast - (3e-9 * 2.9) / 0.039) < 1e-15);
  assert.equal(rows[2].ratioToLast, 1);
  assert.ok(Math.abs((rows[0].saturatedFraction ?? NaN) - 0.38) < 1e-12);
  assert.equal(rows[1].saturatedFraction, 0.25);
  assert.equal('deadFraction' in rows[2], false);
  assert.deepEqual(layerSummaryFrom([], LAYERS), []);
});

// ──── JSON ────

test('JSON round-trips the Report and carries every field of the CLI contract', () => {
  const report = realisticReport('samples/vanishing/keras2.json');
  const parsed = JSON.parse(formatReport(report, 'json'));
  assert.deepEqual(parsed, report);
  assert.equal(parsed.schemaVersion, 1);
  for (const key of ['path', 'format', 'layers']) assert.ok(key in parsed.model, `model.${key}`);
  for (const key of ['name', 'className', 'range']) assert.ok(key in parsed.model.layers[0], `model.layers[].${key}`);
  for (const key of ['backend', 'steps', 'batchSize', 'optimizer', 'learningRate', 'seed', 'durationMs', 'stepMsMedian']) assert.ok(key in parsed.run, `run.${key}`);
  assert.ok(Array.isArray(parsed.history.loss));
  for (const key of ['code', 'severity', 'layer', 'step', 'message', 'evidence', 'fixes']) assert.ok(key in parsed.findings[0], `findings[].${key}`);
  for (const key of ['code', 'title', 'edits']) assert.ok(key in parsed.findings[0].fixes[0], `fixes[].${key}`);
});

// ──── SARIF ────

test('SARIF 2.1.0: schema, one run, a rule per finding code with its docs link, results at the layer\'s 1-based line', () => {
  const baseDir = path.resolve('/work/project');
  const report = realisticReport(path.join(baseDir, 'models', 'my model.json'));
  const sarif = JSON.parse(formatReport(report, 'sarif', { baseDir }));
  assert.equal(sarif.version, '2.1.0');
  assert.match(sarif.$schema, /sarif-2\.1\.0/);
  assert.equal(sarif.runs.length, 1);
  const [run] = sarif.runs;
  assert.equal(run.tool.driver.name, 'Gradient Lens');
  assert.deepEqual(run.tool.driver.rules.map((r: { id: string }) => r.id), [...FINDING_CODES]);
  for (const rule of run.tool.driver.rules) {
    assert.equal(rule.helpUri, docsLink(rule.id));
    assert.ok(rule.shortDescription.text.length > 10);
  }

  assert.equal(run.results.length, 3);
  const [vanishing, saturated, learningRate] = run.results;
  assert.equal(vanishing.ruleId, 'vanishing-gradient');
  assert.equal(run.tool.driver.rules[vanishing.ruleIndex].id, 'vanishing-gradient');
  assert.equal(vanishing.level, 'error');
  assert.match(vanishing.message.text, /gradient RMS 5\.7e-9.*loss stuck at 2\.29\. Suggested fix: Use ReLU instead of sigmoid in 2 hidden layers\.$/);
  const location = vanishing.locations[0].physicalLocation;
  assert.equal(location.artifactLocation.uri, 'models/my%20model.json');
  assert.deepEqual(location.region, { startLine: 11, startColumn: 7 });
  assert.equal(saturated.level, 'warning');
  assert.equal(saturated.locations[0].physicalLocation.region.startLine, 24);
  assert.equal(learningRate.level, 'note');
  assert.equal(learningRate.locations[0].physicalLocation.region.startLine, 1);
});

test('SARIF points at a file URI when the model lies outside the base folder', () => {
  const modelPath = path.resolve('/elsewhere/model.json');
  const sarif = JSON.parse(formatReport(realisticReport(modelPath), 'sarif', { baseDir: path.resolve('/work/project') }));
  assert.equal(sarif.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri, pathToFileURL(modelPath).href);
});

// ──── Text ────

test('text report: run facts, one aligned row per instrumented layer with the ratio, loss, findings with top fix, verifications', () => {
  const text = formatReport(realisticReport('samples/vanishing/keras2.json'), 'text');
  for (const fact of ['samples/vanishing/keras2.json (keras2)', 'wasm', '20, batch size 32', 'adam, learning rate 1e-3', 'fashion-mnist, seed 42', '2.35 s, median step 31 ms']) {
    assert.ok(text.includes(fact), `missing "${fact}" in\n${text}`);
  }
  const lines = text.split('\n');
  const headerIndex = lines.findIndex((line) => /^\s+layer\s+class\s+grad RMS first/.test(line));
  assert.ok(headerIndex > 0, text);
  const rows = lines.slice(headerIndex + 1, headerIndex + 4);
  assert.deepEqual(rows.map((line) => line.trim().split(/\s+/)[0]), ['conv2d', 'conv2d_1', 'dense']);
  assert.equal(lines[headerIndex + 4], '', 'exactly one row per instrumented layer');
  assert.deepEqual(rows[0].trim().split(/\s+/), ['conv2d', 'Conv2D', '3e-9', '8.7e-9', '2.2e-7', '–', '38%']);
  assert.deepEqual(rows[2].trim().split(/\s+/), ['dense', 'Dense', '0.02', '0.039', '1', '–', '–']);
  // Right-aligned numbers: every row ends its ratio column at the same place.
  const ratioEnd = lines[headerIndex].indexOf('ratio to last layer') + 'ratio to last layer'.length;
  for (const row of rows) assert.notEqual(row[ratioEnd - 1], ' ', row);

  assert.match(text, /loss 2\.31 → 2\.291 over 20 steps, accuracy 10% → 10%/);
  assert.match(text, /error\s+vanishing-gradient \(conv2d, step 19\)\n\s+conv2d gradient RMS 5\.7e-9.*\n\s+fix: Use ReLU instead of sigmoid/);
  assert.match(text, /info\s+learning-rate-too-low\n/);
  assert.match(text, /vanishing-gradient\s+use-relu\s+conv2d\s+2\.29 → 0\.71\s+1\.5e-7 → 0\.83\s+0% → 12%\s+none/);
  assert.match(text, /initializers were used/);
});

test('text report of a run without steps or findings says so instead of printing empty tables', () => {
  const report = realisticReport('m.json');
  report.findings = [];
  report.layerSummary = [];
  report.history = { loss: [] };
  delete report.verifications;
  const text = formatReport(report, 'text');
  assert.match(text, /Findings: none/);
  assert.doesNotMatch(text, /grad RMS first|Progress|verification/);
});

// ──── Markdown ────

test('Markdown report: GitHub tables for layers, findings and verifications, with pipes escaped', () => {
  const markdown = formatReport(realisticReport('samples/vanishing/keras2.json'), 'markdown');
  const lines = markdown.split('\n');
  const layerHeader = lines.indexOf('| layer | class | grad RMS first | grad RMS last | ratio to last layer | dead | saturated |');
  assert.ok(layerHeader > 0, markdown);
  assert.equal(lines[layerHeader + 1], '| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  assert.equal(lines[layerHeader + 2], '| conv2d | Conv2D | 3e-9 | 8.7e-9 | 2.2e-7 | – | 38% |');
  assert.equal(lines[layerHeader + 3], '| conv2d\\_1 | Conv2D | 4e-6 | 4e-6 | 1e-4 | – | 25% |');
  assert.ok(lines[layerHeader + 4].startsWith('| dense |'));
  assert.match(markdown, /^## Findings \(3\)$/m);
  assert.match(markdown, /^\| error \| `vanishing-gradient` \| conv2d \| 19 \| .* \| Use ReLU instead of sigmoid in 2 hidden layers \|$/m);
  assert.match(markdown, /flat tails \\\| more/);
  assert.match(markdown, /^\| vanishing-gradient \| use-relu \| conv2d \| 2\.29 → 0\.71 \|/m);
  for (const line of lines.filter((l) => l.startsWith('|'))) {
    const cells = line.replace(/\\\|/g, '').split('|').length;
    assert.ok(cells >= 7, line);
  }
});

test('formatNumber: compact, three significant digits, short scientific notation for tiny and huge values', () => {
  assert.equal(formatNumber(3.14159e-9), '3.1e-9');
  assert.equal(formatNumber(4e9), '4e9');
  assert.equal(formatNumber(0.0312), '0.0312');
  assert.equal(formatNumber(1234.5), '1235');
  assert.equal(formatNumber(2.30258, 4), '2.303');
  assert.equal(formatNumber(1), '1');
  assert.equal(formatNumber(0), '0');
  assert.equal(formatNumber(NaN), 'NaN');
  assert.equal(formatNumber(-Infinity), '-∞');
  assert.equal(formatNumber(undefined), '–');
});
