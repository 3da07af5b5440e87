import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliPath, repoRoot } from './cliHarness';

// The CLI on PyTorch files. The stand-in trainer (no torch needed) checks the contract's shape;
// the real trainer (python/gradient_lens) runs under Debian's torch 1.13 and the project's venv
// torch 2.x where they exist, on the shipped samples.

const FAKE_PACKAGE = path.join(repoRoot, 'test/fixtures/pytorch/fake-trainer');
const FAKE_NET = path.join(repoRoot, 'test/fixtures/pytorch/fake_net.py');
const SYSTEM_PYTHON = '/usr/bin/python3';
const VENV_PYTHON = path.join(process.env.GRADIENT_LENS_VENV ?? path.join(repoRoot, '.cache/venv'), 'bin/python');
const REAL_TRAINER = existsSync(path.join(repoRoot, 'python/gradient_lens/trainer.py')) || existsSync(path.join(repoRoot, 'python/gradient_lens/trainer/__main__.py'));
const VANISHING = path.join(repoRoot, 'samples/pytorch/vanishing_sigmoid.py');
const HEALTHY = path.join(repoRoot, 'samples/pytorch/custom_cnn.py');

function hasTorch(python: string): boolean {
  return existsSync(python) && spawnSync(python, ['-c', 'import torch'], { timeout: 60_000 }).status === 0;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 300_000) {
  const result = spawnSync(process.execPath, [cliPath, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, GRADIENT_LENS_DEBUG: '', ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const fake = { GRADIENT_LENS_PYTHON_DIR: FAKE_PACKAGE };
const python = existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : 'python3';

test('CLI, stand-in trainer: JSON report with format pytorch, findings on the Conv2d line, exit 1', () => {
  const run = cli(['analyze', FAKE_NET, '--format', 'json', '--steps', '60', '--python', python], fake);
  assert.equal(run.status, 1, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.schemaVersion, 1);
  assert.equal(report.model.format, 'pytorch');
  assert.deepEqual(
    report.model.layers.map((l: { name: string }) => l.name),
    ['features.0', 'features.1', 'features.2', 'features.3', 'features.4', 'features.5', 'head'],
  );
  const vanishing = report.findings.find((f: { code: string }) => f.code === 'vanishing-gradient');
  assert.equal(vanishing.layer, 'features.0');
  const line = readFileSync(FAKE_NET, 'utf8').split('\n')[report.model.layers[0].range.start.line];
  assert.match(line, /nn\.Conv2d\(1, 4, 3, padding=1\)/);
  assert.equal(vanishing.fixes[0].code, 'use-relu');
  assert.match(run.stderr, /step 60\/60/);
});

test('CLI, stand-in trainer: SARIF result located in the .py file', () => {
  const run = cli(['analyze', FAKE_NET, '--format', 'sarif', '--steps', '60', '--python', python], fake);
  const sarif = JSON.parse(run.stdout);
  const result = sarif.runs[0].results.find((r: { ruleId: string }) => r.ruleId === 'vanishing-gradient');
  const location = result.locations[0].physicalLocation;
  assert.equal(location.artifactLocation.uri, 'test/fixtures/pytorch/fake_net.py');
  assert.equal(location.region.startLine, 8);
});

test('CLI: bad PyTorch input exits 2 with one line naming the file', () => {
  const candidates = cli(['analyze', FAKE_NET, '--python', python], { ...fake, FAKE_TRAINER_MODE: 'error' });
  assert.equal(candidates.status, 2);
  assert.equal(candidates.stderr.trim().split('\n').length, 1, candidates.stderr);
  assert.match(candidates.stderr, /fake_net\.py: several nn\.Module classes and no --entry \(candidates: Net\(\), Block\(in_channels, out_channels\)/);

  const missing = cli(['analyze', path.join(repoRoot, 'no-such-model.py')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no-such-model\.py: no such file/);

  const shape = cli(['analyze', FAKE_NET, '--input-shape', '1,28,x']);
  assert.equal(shape.status, 2);
  assert.match(shape.stderr, /--input-shape must be C,H,W/);

  const interpreter = cli(['analyze', FAKE_NET, '--python', '/nonexistent/python3']);
  assert.equal(interpreter.status, 2);
  assert.match(interpreter.stderr, /fake_net\.py: the Python interpreter \/nonexistent\/python3 was not found; set --python \/ gradientLens\.pythonPath/);
});

test('CLI: an interpreter without torch is named, with the way out', () => {
  const noTorch = ['python3', '/usr/local/bin/python3'].find((p) => spawnSync(p, ['-c', 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is not None)']).status === 0);
  if (!noTorch) return;
  const run = cli(['analyze', FAKE_NET, '--python', noTorch]);
  assert.equal(run.status, 2);
  assert.match(run.stderr, /has no torch: No module named 'torch'.*set --python \/ gradientLens\.pythonPath/);
});

test('CLI, stand-in trainer: a trainer that dies is one clear error, not a stack', () => {
  const run = cli(['analyze', FAKE_NET, '--python', python], { ...fake, FAKE_TRAINER_MODE: 'die' });
  assert.equal(run.status, 3);
  const errors = run.stderr.trim().split('\n').filter((line) => line.startsWith('gradient-lens:'));
  assert.equal(errors.length, 1, run.stderr);
  assert.doesNotMatch(run.stderr, /fake_net\.py: .*fake_net\.py:/, 'the file named once');
  assert.match(errors[0], /the PyTorch trainer \(.*\) exited with code 1 before it finished: RuntimeError: boom in forward/);
});

// ──── the real trainer ────

for (const [label, interpreter] of [
  ['torch 1.13 (/usr/bin/python3)', SYSTEM_PYTHON],
  ['torch 2.x (.cache/venv)', VENV_PYTHON],
] as const) {
  // npm test's pre-step installs both interpreters (scripts/setup-tests.sh): one missing is a failed set-up, not a skip.
  const ready = () => {
    assert.ok(REAL_TRAINER, 'python/gradient_lens has no trainer');
    assert.ok(hasTorch(interpreter), `${interpreter} has no torch: run scripts/setup-tests.sh (npm test does)`);
  };

  test(`real trainer, ${label}: the vanishing sample's top finding on the first nn.Conv2d line; --verify-fixes improves it`, () => {
    ready();
    const run = cli(['analyze', VANISHING, '--format', 'json', '--steps', '60', '--verify-fixes', '--python', interpreter]);
    assert.ok(run.status === 1 || run.status === 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.model.format, 'pytorch');
    const top = report.findings[0];
    assert.equal(top.code, 'vanishing-gradient', JSON.stringify(report.findings.map((f: { code: string }) => f.code)));
    const layer = report.model.layers.find((l: { name: string }) => l.name === top.layer);
    const line = readFileSync(VANISHING, 'utf8').split('\n')[layer.range.start.line];
    assert.match(line, /nn\.Conv2d\(1, 8, 3, padding=1\)/);
    assert.match(top.message, /\d/);
    // The block class builds convs of any width: its BatchNorm takes the block's parameter, not this model's 8.
    const batchNorm = top.fixes.find((f: { code: string }) => f.code === 'add-batch-normalization');
    const inserted = batchNorm.edits.map((e: { newText: string }) => e.newText).join('');
    assert.match(inserted, /self\.conv_bn = nn\.BatchNorm2d\(out_channels\)/);
    assert.match(inserted, /self\.stem_bn = nn\.BatchNorm2d\(8\)/);
    const verification = report.verifications.find((v: { findingCode: string }) => v.findingCode === 'vanishing-gradient');
    assert.ok(verification && !verification.error, JSON.stringify(report.verifications));
    assert.ok(verification.after.firstLastRatio >= 100 * verification.before.firstLastRatio, JSON.stringify(verification));
    assert.deepEqual(readdirSync(path.dirname(VANISHING)).filter((f) => f.includes('gradient_lens_verify')), [], 'the edited copy is removed');
  });

  test(`real trainer, ${label}: the healthy CustomCNNLayer sample has no warning or error`, () => {
    ready();
    const run = cli(['analyze', HEALTHY, '--format', 'json', '--steps', '60', '--python', interpreter]);
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(report.findings.filter((f: { severity: string }) => f.severity !== 'info'), []);
    const conv = report.model.layers.find((l: { name: string }) => l.name === 'layer1.conv');
    assert.equal(conv.className, 'Conv2d');
    assert.match(readFileSync(HEALTHY, 'utf8').split('\n')[conv.range.start.line], /self\.conv = nn\.Conv2d\(/);
  });
}

test('real trainer: a file that ends the Python process at import is one input error (exit 2) naming the file, not an internal failure', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-exit-'));
  const file = path.join(dir, 'exits.py');
  writeFileSync(file, readFileSync(HEALTHY, 'utf8').replace(/^class /m, 'import os; os._exit(9)\n\nclass '));
  const run = cli(['analyze', file, '--python', SYSTEM_PYTHON, '--steps', '2']);
  rmSync(dir, { recursive: true, force: true });
  assert.equal(run.status, 2, run.stderr);
  const lines = run.stderr.trim().split('\n').filter((line) => line.startsWith('gradient-lens:'));
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], /exits\.py: the Python process ended while importing or building the model: .*exited with code 9/);
});
