import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FINDING_CODES, FIX_CODES } from '../src/shared/codes';
import type { Range } from '../src/shared/textRange';
import { repoRoot, runCli } from './cliHarness';

const VANISHING = 'samples/vanishing-sigmoid-10conv/keras2.json';
const SMALL = 'samples/healthy-small-cnn/keras2.json';

// ──── a small schema check for the CLI contract's JSON object ────

function isRange(value: unknown): value is Range {
  const r = value as Range;
  const isPosition = (p: unknown) => typeof p === 'object' && p !== null && Number.isInteger((p as { line: number }).line) && Number.isInteger((p as { character: number }).character);
  return typeof r === 'object' && r !== null && isPosition(r.start) && isPosition(r.end);
}

function schemaProblems(report: Record<string, any>): string[] {
  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  expect(report.schemaVersion === 1, 'schemaVersion is 1');
  expect(typeof report.model?.path === 'string', 'model.path');
  expect(['keras2', 'keras3', 'tfjs-layers'].includes(report.model?.format), 'model.format');
  expect(Array.isArray(report.model?.layers) && report.model.layers.length > 0, 'model.layers');
  for (const layer of report.model?.layers ?? []) {
    expect(typeof layer.name === 'string' && typeof layer.className === 'string' && isRange(layer.range), `layer ${layer.name}`);
  }
  const run = report.run ?? {};
  for (const key of ['steps', 'batchSize', 'learningRate', 'seed', 'durationMs', 'stepMsMedian']) expect(typeof run[key] === 'number', `run.${key}`);
  for (const key of ['backend', 'optimizer']) expect(typeof run[key] === 'string', `run.${key}`);
  expect(Array.isArray(report.history?.loss) && report.history.loss.every((v: unknown) => typeof v === 'number'), 'history.loss');
  expect(Array.isArray(report.findings), 'findings');
  for (const finding of report.findings ?? []) {
    expect(FINDING_CODES.includes(finding.code), `finding code ${finding.code}`);
    expect(['error', 'warning', 'info'].includes(finding.severity), `severity ${finding.severity}`);
    expect(typeof finding.message === 'string' && typeof finding.evidence === 'object', 'finding message/evidence');
    expect(finding.layer === undefined || typeof finding.layer === 'string', 'finding layer');
    expect(finding.step === undefined || typeof finding.step === 'number', 'finding step');
    for (const fix of finding.fixes ?? ['missing']) {
      expect(FIX_CODES.includes(fix.code) && typeof fix.title === 'string' && Array.isArray(fix.edits), `fix ${JSON.stringify(fix).slice(0, 60)}`);
      for (const edit of fix.edits ?? []) expect(isRange(edit.range) && typeof edit.newText === 'string', 'edit');
    }
  }
  return problems;
}

function textAt(text: string, range: Range): string {
  const lines = text.split('\n');
  if (range.start.line !== range.end.line) return '';
  return lines[range.start.line].slice(range.start.character, range.end.character);
}

function withoutTimings(report: Record<string, any>): Record<string, any> {
  const { durationMs: _duration, stepMsMedian: _median, ...run } = report.run;
  return { ...report, run };
}

test('--format json prints one object valid against the contract, with ranges on layer names, repeatable by seed', () => {
  const first = runCli(['analyze', VANISHING, '--steps', '15', '--batch-size', '8', '--seed', '7', '--format', 'json']);
  assert.ok(first.status === 0 || first.status === 1, first.stderr);
  const report = JSON.parse(first.stdout);
  assert.deepEqual(schemaProblems(report), []);
  assert.equal(report.run.steps, 15);
  assert.equal(report.run.seed, 7);
  assert.equal(report.history.loss.length, 15);

  const text = readFileSync(path.join(repoRoot, VANISHING), 'utf8');
  for (const layer of report.model.layers) {
    assert.equal(textAt(text, layer.range).replace(/"/g, ''), layer.name, `range of ${layer.name}`);
  }

  const second = JSON.parse(runCli(['analyze', VANISHING, '--steps', '15', '--batch-size', '8', '--seed', '7', '--format', 'json']).stdout);
  assert.deepEqual(withoutTimings(second), withoutTimings(report));
});

test('text report of the vanishing sample: first/last conv gradient RMS below 1e-3, error finding, exit 1, --out writes the file', () => {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-cli-'));
  try {
    const out = path.join(folder, 'report.txt');
    const result = runCli(['analyze', VANISHING, '--steps', '20', '--batch-size', '8', '--out', out]);
    assert.equal(result.status, 1, result.stderr);
    assert.equal(result.stdout, '');
    const report = readFileSync(out, 'utf8');
    const rows = report.split('\n').map((line) => line.trim().split(/\s+/)).filter((cells) => cells[1] === 'Conv2D');
    assert.equal(rows.length, 10);
    // Columns: layer, class, grad RMS first, grad RMS last, ratio to last layer, …
    const firstConvLast = Number(rows[0][3]);
    const lastConvLast = Number(rows[rows.length - 1][3]);
    assert.ok(firstConvLast / lastConvLast < 1e-3, `first/last conv ${firstConvLast}/${lastConvLast}`);
    assert.match(report, /error\s+vanishing-gradient \(conv2d\)/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('exit codes: 0 without error findings, 2 for bad flags, one line on stderr', () => {
  const healthy = runCli(['analyze', SMALL, '--steps', '5', '--format', 'markdown']);
  assert.equal(healthy.status, 0, healthy.stderr);
  assert.match(healthy.stdout, /^#/m);

  const badFlags: string[][] = [
    ['--steps', '0'],
    ['--steps', '-3'],
    ['--steps', '2.5'],
    ['--batch-size', 'lots'],
    ['--learning-rate', '-1'],
    ['--optimizer', 'nadamw'],
    ['--loss', 'hinge_of_doom'],
    ['--backend', 'gpu'],
    ['--format', 'pdf'],
    ['--no-such-flag'],
  ];
  for (const flags of badFlags) {
    const result = runCli(['analyze', SMALL, ...flags]);
    assert.equal(result.status, 2, `${flags.join(' ')}: ${result.stderr}`);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${flags.join(' ')} printed ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
  assert.equal(runCli(['analyze']).status, 2);
});

test('--verify-fixes reruns the vanishing sample with its top fix and reports before/after', () => {
  const result = runCli(['analyze', VANISHING, '--steps', '15', '--batch-size', '8', '--verify-fixes', '--format', 'json']);
  const report = JSON.parse(result.stdout);
  const verification = report.verifications.find((v: { findingCode: string }) => v.findingCode === 'vanishing-gradient');
  assert.ok(verification, JSON.stringify(report.verifications));
  assert.equal(verification.error, undefined);
  assert.ok(verification.before.firstLastRatio < 1e-3);
  assert.ok(verification.after.firstLastRatio > 1000 * verification.before.firstLastRatio, JSON.stringify(verification));
  assert.ok(!verification.remaining.includes('vanishing-gradient'));
  const folder = path.dirname(path.join(repoRoot, VANISHING));
  assert.deepEqual(readdirSync(folder).filter((name) => name.includes('gradient-lens-verify')), [], 'the edited copy is removed');
});
