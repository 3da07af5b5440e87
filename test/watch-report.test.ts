import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { cliPath, repoRoot } from './cliHarness';

// `gradient-lens report <run.jsonl>`: run files written by gradient_lens.watch() in real training
// scripts (2 DDP ranks over gloo on 127.0.0.1, Debian's torch 1.13), judged by the shared rules;
// bad input; a truncated last line; --follow on a growing file; a 10⁶-record file in bounded memory.

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(repoRoot, 'test/fixtures/watch/train_ddp.py');
const WARMUP = 6;
/** Above any pid_max: no process has it, so a file naming it as its writer was left by a dead one. */
const DEAD_PID = 2 ** 31 - 2; // train_ddp.py's WARMUP: the step whose update first uses the raised rate

interface ReportJson {
  findings: Array<{ code: string; severity: string; layer?: string; step?: number; fixes: Array<{ code: string }> }>;
  run: { ended?: string; loggedSteps?: number; worldSize?: number };
  warnings?: string[];
}

function cli(args: string[], timeoutMs = 120_000) {
  const result = spawnSync(process.execPath, [cliPath, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, GRADIENT_LENS_DEBUG: '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function train(scenario: string, dir: string, extra: string[] = []): string {
  const run = spawnSync(PYTHON, [SCRIPT, scenario, dir, '--ranks', '2', ...extra], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`.slice(-4000));
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  assert.equal(files.length, 1, `one run file from rank 0, found ${files.join(', ')}`);
  return path.join(dir, files[0]);
}

function records(file: string): Array<Record<string, any>> {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'gl-watch-report-'));
}

test('an exploding DDP run (learning rate raised after warm-up) is reported at the step and layer where it blew up', { timeout: 300_000 }, () => {
  const dir = tempDir();
  try {
    const file = train('explode', dir, ['--steps', '30']);
    const header = records(file)[0];
    assert.equal(header.worldSize, 2);
    assert.equal(header.backend, 'gloo');
    const result = cli(['report', file, '--format', 'json']);
    assert.equal(result.status, 1, result.stderr);
    const report = JSON.parse(result.stdout) as ReportJson;
    assert.equal(report.run.worldSize, 2);
    assert.equal(report.run.ended, 'completed');
    const finding = report.findings.find((f) => f.code === 'exploding-gradient' || f.code === 'non-finite');
    assert.ok(finding, JSON.stringify(report.findings));
    assert.equal(finding.severity, 'error');
    // The run file itself says where: the first layer's gradient RMS at the reported step is ≥ 1000× its step-0 value,
    // and that step comes right after the rate was raised.
    assert.equal(finding.layer, 'conv1');
    assert.ok(finding.step !== undefined && finding.step >= WARMUP && finding.step <= WARMUP + 3, `step ${finding.step}`);
    const steps = records(file).filter((r) => r.type === 'step');
    const rms = (step: number) => steps.find((r) => r.stats.step === step)!.stats.layers.find((l: any) => l.layer === 'conv1').gradRms;
    assert.ok(rms(finding.step!) >= 1000 * rms(0), `${rms(finding.step!)} vs ${rms(0)}`);
    assert.ok(finding.fixes.length > 0, 'a fix for the script');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a DDP run whose ReLUs die after warm-up is reported as dying-relu on that layer', { timeout: 300_000 }, () => {
  const dir = tempDir();
  try {
    const file = train('dying', dir, ['--steps', '60']);
    const result = cli(['report', file, '--format', 'json']);
    const report = JSON.parse(result.stdout) as ReportJson;
    const dying = report.findings.find((f) => f.code === 'dying-relu');
    assert.ok(dying, JSON.stringify(report.findings));
    assert.equal(dying.layer, 'conv2');
    assert.equal(result.status, dying.severity === 'error' ? 1 : 0);
    // Alive during warm-up, dead afterwards, in the figures the ranks reduced.
    const dead = records(file).filter((r) => r.type === 'step').map((r) => r.stats.layers.find((l: any) => l.layer === 'conv2').deadFraction as number);
    assert.ok(dead.slice(0, WARMUP).every((d) => d < 0.5), `warm-up ${dead.slice(0, WARMUP)}`);
    assert.ok(dead.slice(-10).filter((d) => d >= 0.7).length >= 5, `end ${dead.slice(-10)}`);
    assert.ok(!report.findings.some((f) => f.code === 'non-finite' || f.code === 'exploding-gradient'));
    // The text and SARIF reports read the same file.
    const sarif = cli(['report', file, '--format', 'sarif']);
    assert.match(sarif.stdout, /dying-relu/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function header(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'header', format: 'gradient-lens-run', protocolVersion: 1, framework: 'pytorch', torchVersion: '2.0', pythonVersion: '3.11',
    script: '/nowhere/train.py', modelFile: '/nowhere/model.py', cwd: '/nowhere', pid: DEAD_PID, startedAt: 1000, entry: 'Net', optimizer: 'SGD',
    learningRate: 0.1, every: 1, distributed: false, worldSize: 1, rankCount: 1, backend: null, device: 'cpu', gradScaler: false, numClasses: 10,
    layers: [{ name: 'conv', className: 'Conv2d', instrumented: true, paramCount: 10 }], ...extra,
  });
}

function stepLine(step: number, rms: number, loss: number): string {
  const layer = { layer: 'conv', gradL2: rms * 3, gradRms: rms, gradMeanAbs: rms, gradMaxAbs: rms * 2, gradZeroFraction: 0, gradNonFinite: 0, weightL2: 1, updateRatio: 0.001 };
  return JSON.stringify({ type: 'step', stats: { step, loss, layers: [layer] }, skippedSteps: 0, learningRate: 0.1, time: 1000 + step });
}

test('bad input exits 2 with one line naming the file and the problem', () => {
  const dir = tempDir();
  try {
    const cases: Array<[string, string | null, RegExp]> = [
      ['empty.jsonl', '', /is empty/],
      ['model.json', '{"class_name": "Sequential", "config": {}}\n', /not a Gradient Lens run file/],
      ['text.jsonl', 'hello\n', /not a Gradient Lens run file \(its first line is not JSON\)/],
      ['future.jsonl', `${header({ protocolVersion: 7 })}\n`, /protocol version 7; this Gradient Lens reads version 1/],
      ['damaged.jsonl', `${header()}\n{oops\n${stepLine(1, 0.1, 2)}\n`, /line 2 is not JSON/],
      ['missing.jsonl', null, /no such file/],
    ];
    for (const [name, content, reason] of cases) {
      const file = path.join(dir, name);
      if (content !== null) writeFileSync(file, content);
      const result = cli(['report', file]);
      assert.equal(result.status, 2, `${name}: ${result.stderr}`);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${name}: ${result.stderr}`);
      assert.ok(lines[0].includes(file), `${name}: ${lines[0]}`);
      assert.match(lines[0], reason);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run cut off mid-write (truncated last line, no close record) is read and said to have ended abnormally', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'killed.jsonl');
    const lines = [header(), ...Array.from({ length: 12 }, (_, i) => stepLine(i, 0.01, 2.3 - i * 0.05))];
    const last = stepLine(12, 0.01, 1.7);
    writeFileSync(file, `${lines.join('\n')}\n${last.slice(0, last.length / 2)}`);
    const result = cli(['report', file, '--format', 'json']);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as ReportJson;
    assert.equal(report.run.ended, 'abnormally');
    assert.equal(report.run.loggedSteps, 12);
    assert.ok(report.warnings?.some((w) => /ended abnormally/.test(w) && /cut off/.test(w)), JSON.stringify(report.warnings));
    const text = cli(['report', file]);
    assert.match(text.stdout, /ended abnormally/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--follow prints a finding while the run is still writing and ends at its close record', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'live.jsonl');
    writeFileSync(file, `${header()}\n${[0, 1, 2].map((i) => stepLine(i, 0.01, 2.3)).join('\n')}\n`);
    const child = spawn(process.execPath, [cliPath, 'report', file, '--follow', '--format', 'json'], { cwd: repoRoot, env: { ...process.env, GRADIENT_LENS_DEBUG: '' } });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const sawFinding = new Promise<void>((resolve) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/non-finite/.test(stderr)) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 500));
    appendFileSync(file, `${stepLine(3, 50, 900)}\n`);
    appendFileSync(file, `${JSON.stringify({ type: 'step', stats: { step: 4, loss: null, layers: [{ layer: 'conv', gradL2: null, gradRms: null, gradMeanAbs: null, gradMaxAbs: null, gradZeroFraction: 0, gradNonFinite: 7, weightL2: null, updateRatio: null }] }, skippedSteps: 0, learningRate: 0.1, time: 1004 })}\n`);
    await sawFinding;
    assert.equal(child.exitCode, null, 'still following: no close record yet');
    appendFileSync(file, `${JSON.stringify({ type: 'close', status: 'completed', steps: 5, loggedSteps: 5, skippedSteps: 0, time: 1005 })}\n`);
    const [code] = await once(child, 'exit');
    assert.equal(code, 1, stderr);
    const report = JSON.parse(stdout) as ReportJson;
    assert.equal(report.run.ended, 'completed');
    const nonFinite = report.findings.find((f) => f.code === 'non-finite');
    assert.equal(nonFinite?.step, 4);
    assert.equal(nonFinite?.layer, 'conv');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run file of 10⁶ records streams through in bounded memory', { timeout: 600_000 }, async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'long.jsonl');
    const out = createWriteStream(file);
    out.write(`${header()}\n`);
    const count = 1_000_000;
    let chunk = '';
    for (let i = 0; i < count; i++) {
      // Healthy and slowly learning until step 700000, then non-finite.
      chunk += i === 700_000 ? `${stepLine(i, 0.01, 2.3).replace('"gradNonFinite":0', '"gradNonFinite":3')}\n` : `${stepLine(i, 0.01 + (i % 7) * 1e-4, 2.3 - (i / count))}\n`;
      if (chunk.length > 1 << 20) {
        if (!out.write(chunk)) await once(out, 'drain');
        chunk = '';
      }
    }
    out.write(chunk);
    out.end(`${JSON.stringify({ type: 'close', status: 'completed', steps: count, loggedSteps: count, skippedSteps: 0, time: 2000 })}\n`);
    await once(out, 'finish');
    const size = statSync(file).size;
    // A heap far smaller than the file: loading it whole (or keeping every record) would fail.
    const heapMb = 128;
    const probe = `
      const { analyzeRunFile } = require(${JSON.stringify(path.join(repoRoot, 'out/src/engine/watch/analyzeRun.js'))});
      const started = Date.now();
      analyzeRunFile(${JSON.stringify(file)}, () => {}).then((report) => {
        const rssMb = process.resourceUsage().maxRSS / 1024;
        console.log(JSON.stringify({ rssMb, seconds: (Date.now() - started) / 1000, logged: report.run.loggedSteps, kept: report.history.loss.length,
          findings: report.findings.map((f) => [f.code, f.step]) }));
      });`;
    const run = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, '-e', probe], { encoding: 'utf8', timeout: 540_000 });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { rssMb: number; seconds: number; logged: number; kept: number; findings: Array<[string, number]> };
    console.log(`10⁶ records, ${(size / 1e6).toFixed(0)} MB: ${result.seconds.toFixed(1)} s, peak RSS ${result.rssMb.toFixed(0)} MB, ${result.kept} steps kept for the rules`);
    assert.equal(result.logged, count);
    assert.ok(result.rssMb < 400 && result.rssMb * 1e6 < size, `peak RSS ${result.rssMb} MB for a ${size / 1e6} MB file`);
    assert.ok(result.kept <= 40_001, `${result.kept} steps kept`);
    // The step where it broke is named exactly, however far into the file.
    assert.deepEqual(result.findings.find(([code]) => code === 'non-finite'), ['non-finite', 700_000]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run that never logged its loss is judged on its gradients alone, and the report says so', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'noloss.jsonl');
    // 80 flat steps: with a made-up constant loss the loss-only rules would call it slow convergence.
    const lines = [header(), ...Array.from({ length: 80 }, (_, i) => stepLine(i, 0.01, 0).replace('"loss":0,', ''))];
    writeFileSync(file, `${lines.join('\n')}\n${JSON.stringify({ type: 'close', status: 'completed', steps: 80, loggedSteps: 80, skippedSteps: 0, time: 1080 })}\n`);
    assert.ok(!readFileSync(file, 'utf8').includes('"loss"'));
    const result = cli(['report', file, '--format', 'json']);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as ReportJson;
    assert.deepEqual(report.findings.filter((f) => ['slow-convergence', 'oscillating-loss', 'learning-rate-too-low', 'non-finite'].includes(f.code)), []);
    assert.ok(report.warnings?.some((w) => /no loss was logged/.test(w)), JSON.stringify(report.warnings));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run file read while its writer still runs is reported as live, not as ended abnormally', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'live.jsonl');
    // This test process stands in for the training script that is still writing.
    writeFileSync(file, `${header({ pid: process.pid })}\n${stepLine(0, 0.01, 2.3)}\n`);
    const result = cli(['report', file, '--format', 'json']);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as ReportJson;
    assert.equal(report.run.ended, 'live');
    assert.ok(report.warnings?.some((w) => new RegExp(`still writing \\(process ${process.pid} is running\\)`).test(w)), JSON.stringify(report.warnings));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
