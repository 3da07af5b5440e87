import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot, runCli, type CliResult } from './cliHarness';

const BAD = 'test/fixtures/bad';
const SMALL = 'samples/healthy-small-cnn/keras2.json';

/** Exit 2, one line on stderr naming the file, the expected problem, and no stack trace. */
function assertRefused(result: CliResult, file: string, problem: RegExp): void {
  assert.equal(result.status, 2, `${file}: exit ${result.status}, stderr ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${file}: stderr has ${lines.length} lines:\n${result.stderr}`);
  assert.ok(lines[0].includes(path.basename(file)), `${file}: "${lines[0]}" does not name the file`);
  assert.match(lines[0], problem);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
  assert.equal(result.stdout, '');
}

const fixtures: Array<[string, RegExp]> = [
  ['empty.json', /empty/i],
  ['malformed.json', /malformed JSON.*line 26/i],
  ['not-a-model.json', /not a model/i],
  ['unknown-layer.json', /FancyConv2D|unknown layer/i],
  ['lambda.json', /Lambda/],
  ['unbuildable.json', /conv2d_1/],
  ['dense-without-flatten.json', /class scores|\[6, 6, 10\]/],
  ['tfjs-missing-shard/model.json', /weights\.bin/],
  ['tfjs-truncated-shard/model.json', /bytes/],
  ['tfjs-path-escape/model/model.json', /leaves the model's folder|outside/i],
  ['tfjs-absolute-path/model.json', /leaves the model's folder|outside/i],
  ['tfjs-mismatched-weights/model.json', /conv2d/],
];

for (const [fixture, problem] of fixtures) {
  test(`bad input ${fixture}: exit 2 with one line`, () => {
    const file = path.join(BAD, fixture);
    assertRefused(runCli(['analyze', file, '--steps', '2']), file, problem);
  });
}

test('NaN weights load with a warning and the run goes on', () => {
  const file = path.join(BAD, 'tfjs-nan-weights/model.json');
  const result = runCli(['analyze', file, '--steps', '2', '--batch-size', '4', '--format', 'json', '--data', 'synthetic']);
  assert.ok(result.status === 0 || result.status === 1, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.ok(report.warnings.some((w: string) => /NaN/.test(w) && w.includes('conv2d/kernel')), JSON.stringify(report.warnings));
});

test('a missing file, a 200 MB file and an unknown loss in the training config are refused', () => {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-bad-'));
  try {
    assertRefused(runCli(['analyze', path.join(folder, 'absent.json')]), 'absent.json', /not found|no such|does not exist/i);
    const huge = path.join(folder, 'huge.json');
    const fd = openSync(huge, 'w');
    ftruncateSync(fd, 200 * 1024 * 1024);
    closeSync(fd);
    const started = Date.now();
    assertRefused(runCli(['analyze', huge]), huge, /MB/);
    assert.ok(Date.now() - started < 20_000);
    const unknownLoss = path.join(folder, 'unknown-loss.json');
    const model = JSON.parse(readFileSync(path.join(repoRoot, SMALL), 'utf8'));
    model.training_config = { loss: 'hinge_of_doom', optimizer_config: { class_name: 'Adam', config: { learning_rate: 0.001 } } };
    writeFileSync(unknownLoss, JSON.stringify(model, null, 1));
    assertRefused(runCli(['analyze', unknownLoss]), unknownLoss, /unknown loss "hinge_of_doom" in the training config/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('unknown optimizer, loss and bad numbers are refused naming the file', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--optimizer', 'nadamw'], /unknown optimizer "nadamw"/],
    [['--loss', 'hinge_of_doom'], /unknown loss "hinge_of_doom"/],
    [['--steps', '0'], /--steps must be an integer ≥ 1, got "0"/],
    [['--steps', '-5'], /--steps/],
    [['--batch-size', '-1'], /--batch-size/],
    [['--seed', '1.5'], /--seed/],
  ];
  for (const [flags, problem] of cases) assertRefused(runCli(['analyze', SMALL, ...flags]), SMALL, problem);
});
