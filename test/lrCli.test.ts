import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot, runCli } from './cliHarness';

const VANISHING = 'samples/vanishing-sigmoid-10conv/keras2.json';
const TOO_LOW = 'test/cases/lr-too-low-k2/keras2.json';
const CONTRACT_KEYS = ['schemaVersion', 'model', 'run', 'history', 'findings'];

test('--find-lr adds the range test under `lrRange` and leaves the contract\'s keys as they were', () => {
  const result = runCli(['analyze', TOO_LOW, '--steps', '60', '--seed', '1', '--find-lr', '--format', 'json']);
  const report = JSON.parse(result.stdout);
  for (const key of CONTRACT_KEYS) assert.ok(key in report, key);
  assert.deepEqual(Object.keys(report.run).slice(0, 8), ['backend', 'steps', 'batchSize', 'optimizer', 'learningRate', 'seed', 'durationMs', 'stepMsMedian']);
  const range = report.lrRange;
  assert.ok(range, 'lrRange present');
  assert.equal(range.sweep.startLr, 1e-6);
  assert.equal(range.sweep.endLr, 10);
  assert.ok(range.points.length >= 20 && range.points.length <= 88);
  assert.ok(range.suggestedLr > 1e-4 && range.suggestedLr < 1, String(range.suggestedLr));
  // The finding quotes it, and the raise fix writes the rounded suggestion into the file.
  const low = report.findings.find((f: { code: string }) => f.code === 'learning-rate-too-low');
  assert.ok(low, JSON.stringify(report.findings.map((f: { code: string }) => f.code)));
  assert.match(low.message, /of the range test's/);
  assert.equal(low.fixes[0].code, 'raise-learning-rate');
  assert.match(low.fixes[0].title, /\(the range test's suggestion\)/);
  const text = runCli(['analyze', TOO_LOW, '--steps', '60', '--seed', '1', '--find-lr']).stdout;
  assert.match(text, /Learning-rate range test\n {2}swept 1e-6 → /);
  assert.match(text, /suggested learning rate /);
});

test('a healthy run with no flag runs no range test (its report has no `lrRange`)', () => {
  const report = JSON.parse(runCli(['analyze', 'test/cases/healthy-relu-he-k3/keras3.json', '--steps', '60', '--seed', '1', '--format', 'json']).stdout);
  assert.equal(report.lrRange, undefined);
  assert.ok(!report.findings.some((f: { severity: string }) => f.severity !== 'info'));
});

test('--compare-fixes reruns every fix of the top finding, ranks them by outcome and orders the fixes by it', () => {
  const result = runCli(['analyze', VANISHING, '--steps', '15', '--batch-size', '8', '--compare-fixes', '--format', 'json'], 300_000);
  const report = JSON.parse(result.stdout);
  const comparison = report.comparison;
  assert.ok(comparison, result.stderr);
  assert.equal(comparison.findingCode, 'vanishing-gradient');
  const top = report.findings.find((f: { code: string }) => f.code === 'vanishing-gradient');
  assert.equal(comparison.candidates.length, top.fixes.length);
  assert.ok(comparison.candidates.length >= 3);
  const ranked = comparison.candidates.filter((c: { rank: number }) => c.rank > 0);
  assert.ok(ranked.length >= 3, JSON.stringify(comparison.candidates.map((c: { error?: string }) => c.error)));
  for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i].rank === ranked[i - 1].rank + 1);
  for (const c of ranked) assert.equal(c.outcome.loss.length, 15);
  // The finding's fixes follow the ranking, with the results in their titles.
  assert.deepEqual(top.fixes.slice(0, ranked.length).map((f: { code: string }) => f.code), ranked.map((c: { fixCode: string }) => c.fixCode));
  assert.match(top.fixes[0].title, / — loss [\d.]+ → [\d.]+ in 15 steps$/);
  const folder = path.dirname(path.join(repoRoot, VANISHING));
  assert.deepEqual(readdirSync(folder).filter((name) => name.includes('gradient-lens-compare')), [], 'the edited copies are removed');
  const text = runCli(['analyze', VANISHING, '--steps', '15', '--batch-size', '8', '--compare-fixes'], 300_000).stdout;
  assert.match(text, /Fixes compared \(best first\)/);
});

test('--compare-fixes starts its candidates once the run\'s top finding is live, before the run ends, and ranks them the same way', () => {
  // The vanishing finding is live at step 10 (vanishingEarlySteps, the sample vanishes far past both limits): 70 steps leave 60 to overlap.
  const result = runCli(['analyze', VANISHING, '--steps', '70', '--batch-size', '8', '--compare-fixes', '--format', 'json'], 300_000);
  const report = JSON.parse(result.stdout);
  const comparison = report.comparison;
  assert.ok(comparison, result.stderr);
  assert.equal(comparison.findingCode, 'vanishing-gradient');
  const ranked = comparison.candidates.filter((c: { rank: number }) => c.rank > 0);
  assert.ok(ranked.length >= 3, JSON.stringify(comparison.candidates.map((c: { error?: string }) => c.error)));
  for (const c of ranked) assert.equal(c.outcome.loss.length, 70);
  // Begun before the run's own steps ended: the comparison lasted longer than the time after them.
  const afterRun = report.run.durationMs - comparison.baseline.durationMs;
  assert.ok(comparison.durationMs > afterRun, `comparison ${comparison.durationMs} ms, time after the run ${afterRun} ms`);
  const folder = path.dirname(path.join(repoRoot, VANISHING));
  assert.deepEqual(readdirSync(folder).filter((name) => name.includes('gradient-lens-compare')), [], 'the edited copies are removed');
});
