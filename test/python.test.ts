import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './cliHarness';

// The Python side's own unittest suite (python/tests), so `npm test` covers the trainer, the
// statistics and the source mapper on both torch versions the project supports: Debian's 1.13 in
// /usr/bin/python3 and 2.x in the project's venv (scripts/setup-python.sh).

const PYTHON_DIR = path.join(repoRoot, 'python');
const RUNNER = path.join(PYTHON_DIR, 'run_tests.sh');
const TESTS = path.join(PYTHON_DIR, 'tests');
const INTERPRETERS = [
  ['torch 1.13', '/usr/bin/python3'],
  ['torch 2.x', path.join(process.env.GRADIENT_LENS_VENV ?? path.join(repoRoot, '.cache/venv'), 'bin/python')],
] as const;

function hasTorch(python: string): boolean {
  return existsSync(python) && spawnSync(python, ['-c', 'import torch'], { timeout: 60_000 }).status === 0;
}

for (const [label, python] of INTERPRETERS) {
  test(`the Python unittest suite passes under ${label} (${python})`, { timeout: 900_000 }, () => {
    // npm test's pre-step installs both interpreters: one missing is a failed set-up, not a skip.
    assert.ok(existsSync(TESTS), 'python/tests is missing');
    assert.ok(hasTorch(python), `${python} has no torch: run scripts/setup-tests.sh (npm test does)`);
    // The Python side's own runner when it has one (it knows its set-up), else plain discovery.
    const run = existsSync(RUNNER)
      ? spawnSync('bash', [RUNNER, python], { cwd: PYTHON_DIR, encoding: 'utf8', timeout: 900_000, env: { ...process.env, PYTHON: python } })
      : spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], { cwd: PYTHON_DIR, encoding: 'utf8', timeout: 900_000, env: { ...process.env, PYTHONPATH: PYTHON_DIR } });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`.slice(-8000));
  });
}
