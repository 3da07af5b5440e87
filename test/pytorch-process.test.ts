import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { EngineToHostMessage } from '../src/shared/engineProtocol';
import type { TorchStartRequest, TorchToEngineMessage } from '../src/shared/pytorchProtocol';
import { analyze } from '../src/engine/analyze';
import { chooseInterpreter, probeTorch, SYSTEM_PYTHON, type TorchProbe } from '../src/engine/pytorch/interpreter';
import { OUTPUT_LINE_LIMIT, readLines, TorchTrainerProcess } from '../src/engine/pytorch/trainerProcess';
import { repoRoot } from './cliHarness';

// The engine's side of the trainer protocol, against a stand-in trainer that needs no torch
// (test/fixtures/pytorch/fake-trainer): partial lines, user output, a dying trainer, cancel.

const FAKE_PACKAGE = path.join(repoRoot, 'test/fixtures/pytorch/fake-trainer');
const FAKE_NET = path.join(repoRoot, 'test/fixtures/pytorch/fake_net.py');
const PYTHON = existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : 'python3';

function request(steps = 5): TorchStartRequest {
  return { type: 'start', protocolVersion: 1, modelPath: FAKE_NET, steps, batchSize: 8, seed: 1, data: 'synthetic', fashionMnistDir: '/nowhere' };
}

function fakeTrainer(mode: string, output: string[] = [], cancelGraceMs = 500): TorchTrainerProcess {
  return new TorchTrainerProcess({
    python: PYTHON,
    packageDir: FAKE_PACKAGE,
    cwd: path.dirname(FAKE_NET),
    onOutput: (stream, line) => output.push(`${stream}: ${line}`),
    cancelGraceMs,
    env: { ...process.env, FAKE_TRAINER_MODE: mode },
  });
}

test('readLines joins lines split across chunks and keeps a truncated last line', async () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  const ended = new Promise<void>((resolve) => readLines(stream, (line) => lines.push(line), resolve));
  stream.write('{"a":');
  stream.write('1}\n{"b"');
  stream.write(':2}\r\n\n{"c":3');
  stream.end();
  await ended;
  assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '', '{"c":3']);
});

test('a multi-byte character split between chunks arrives whole', async () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  const ended = new Promise<void>((resolve) => readLines(stream, (line) => lines.push(line), resolve));
  const bytes = Buffer.from('{"name":"größe→"}\n', 'utf8');
  stream.write(bytes.subarray(0, 12));
  stream.write(bytes.subarray(12));
  stream.end();
  await ended;
  assert.deepEqual(lines, ['{"name":"größe→"}']);
});

test('interpreter: the default python3 without torch falls back to /usr/bin/python3', async () => {
  const probes: string[] = [];
  const probe = async (python: string): Promise<TorchProbe> => {
    probes.push(python);
    return python === SYSTEM_PYTHON ? { kind: 'ok', executable: python } : { kind: 'no-torch', executable: '/x/python3' };
  };
  assert.equal(await chooseInterpreter(undefined, probe), SYSTEM_PYTHON);
  // Both asked at once (the fallback first, so its answer is ready when python3's says no torch).
  assert.deepEqual([...probes].sort(), [SYSTEM_PYTHON, 'python3']);
});

test('interpreter: the default python3 with torch is used, although the fallback was asked too', async () => {
  const probe = async (python: string): Promise<TorchProbe> => ({ kind: 'ok', executable: python });
  assert.equal(await chooseInterpreter(undefined, probe), 'python3');
});

test('interpreter: one clear error naming the interpreter when neither has torch', async () => {
  const probe = async (): Promise<TorchProbe> => ({ kind: 'no-torch', executable: '/x' });
  await assert.rejects(chooseInterpreter(undefined, probe), (error: Error) => {
    assert.match(error.message, /^python3( \([^)]+\))? has no torch: /);
    assert.match(error.message, /apt-get install python3-torch/);
    assert.match(error.message, /--python \/ gradientLens\.pythonPath/);
    assert.equal(error.message.includes('\n'), false);
    return true;
  });
});

test('interpreter: a named interpreter is used as is, never replaced by the fallback', async () => {
  const probe = async (python: string): Promise<TorchProbe> => (python === '/opt/py/bin/python' ? { kind: 'missing' } : { kind: 'ok', executable: python });
  await assert.rejects(chooseInterpreter('/opt/py/bin/python', probe), /the Python interpreter \/opt\/py\/bin\/python was not found/);
  const noTorch = async (): Promise<TorchProbe> => ({ kind: 'no-torch', executable: '/venv/bin/python' });
  await assert.rejects(chooseInterpreter('/venv/bin/python', noTorch), /^Error|\/venv\/bin\/python has no torch/);
});

test('interpreter: the real probe finds Debian torch in /usr/bin/python3 and none in a missing binary', { skip: !existsSync(SYSTEM_PYTHON) }, async () => {
  const system = await probeTorch(SYSTEM_PYTHON);
  assert.ok(system.kind === 'ok' || system.kind === 'no-torch', JSON.stringify(system));
  assert.deepEqual(await probeTorch('/nonexistent/python3'), { kind: 'missing' });
});

test('trainer process: messages from fd 3 in order, user prints apart as output lines', async () => {
  const output: string[] = [];
  const messages: TorchToEngineMessage[] = [];
  const end = await fakeTrainer('normal', output).run(request(5), (msg) => messages.push(msg));
  assert.equal(end.kind, 'done');
  assert.deepEqual(
    messages.map((m) => m.type),
    ['ready', 'step', 'step', 'step', 'step', 'step', 'done'],
  );
  assert.ok(output.includes('stdout: user print 0'), output.join('\n'));
  assert.ok(output.includes('stderr: user warning 1'), output.join('\n'));
});

test('trainer process: a chatty model file is capped, the protocol unharmed', async () => {
  const output: string[] = [];
  const end = await fakeTrainer('chatty', output).run(request(2), () => undefined);
  assert.equal(end.kind, 'done');
  const stdout = output.filter((line) => line.startsWith('stdout: '));
  assert.equal(stdout.length, OUTPUT_LINE_LIMIT + 1);
  assert.match(stdout.at(-1)!, /further stdout output of the model file is not shown/);
});

test('trainer process: a trainer that dies without done is one clear error with its last stderr line', async () => {
  const end = await fakeTrainer('die').run(request(5), () => undefined);
  assert.equal(end.kind, 'died');
  assert.ok(end.kind === 'died');
  assert.match(end.message, /exited with code 1 before it finished: RuntimeError: boom in forward/);
  assert.equal(end.message.includes('\n'), false);
});

test('trainer process: an interpreter that does not exist', async () => {
  const trainer = new TorchTrainerProcess({ python: '/nonexistent/python3', packageDir: FAKE_PACKAGE, cwd: repoRoot, onOutput: () => undefined });
  const end = await trainer.run(request(1), () => undefined);
  assert.deepEqual(end, { kind: 'died', message: 'the Python interpreter /nonexistent/python3 was not found' });
});

test('trainer process: cancel is cooperative first (done with cancelled)', async () => {
  const trainer = fakeTrainer('slow');
  let steps = 0;
  const ended = trainer.run(request(100), (msg) => {
    if (msg.type === 'step' && ++steps === 2) trainer.cancel();
  });
  const end = await ended;
  assert.equal(end.kind, 'done');
  assert.ok(end.kind === 'done' && end.done.cancelled && end.done.stepsCompleted < 10);
});

test('trainer process: a trainer that ignores cancel and SIGTERM is killed', async () => {
  const trainer = fakeTrainer('ignore-cancel', [], 300);
  const started = Date.now();
  const ended = trainer.run(request(1000), (msg) => {
    if (msg.type === 'ready') trainer.cancel();
  });
  const end = await ended;
  assert.equal(end.kind, 'died');
  assert.ok(Date.now() - started < 10_000);
});

test('analyze: a .py file goes through the trainer into the shared rules, fixes and report', async () => {
  process.env.GRADIENT_LENS_PYTHON_DIR = FAKE_PACKAGE;
  try {
    const messages: EngineToHostMessage[] = [];
    const report = await analyze(FAKE_NET, { steps: 60, python: PYTHON }, (msg) => messages.push(msg));
    assert.equal(report.model.format, 'pytorch');
    assert.equal(report.model.path, FAKE_NET);
    const ready = messages.find((m) => m.type === 'ready');
    assert.ok(ready && ready.type === 'ready');
    assert.equal(ready.format, 'pytorch');
    assert.equal(ready.layers[0].name, 'features.0');
    assert.equal(ready.layers[0].range.start.line, 7);
    assert.equal(report.history.loss.length, 60);
    const vanishing = report.findings.find((f) => f.code === 'vanishing-gradient');
    assert.ok(vanishing, JSON.stringify(report.findings.map((f) => f.code)));
    assert.equal(vanishing.layer, 'features.0');
    assert.equal(vanishing.fixes[0]?.code, 'use-relu');
    // Three activations switched, and one insertion of He init for the switched layers.
    assert.equal(vanishing.fixes[0].edits.length, 4);
    assert.ok(messages.some((m) => m.type === 'log' && m.message.includes('user print 0')));
  } finally {
    delete process.env.GRADIENT_LENS_PYTHON_DIR;
  }
});

test('analyze: the trainer refusing the file is an input error listing the candidates', async () => {
  process.env.GRADIENT_LENS_PYTHON_DIR = FAKE_PACKAGE;
  process.env.FAKE_TRAINER_MODE = 'error';
  try {
    await assert.rejects(analyze(FAKE_NET, { steps: 5, python: PYTHON }, () => undefined), (error: Error) => {
      assert.equal(error.name, 'InputError');
      assert.equal(error.message, `${FAKE_NET}: several nn.Module classes and no --entry (candidates: Net(), Block(in_channels, out_channels); pick one with --entry)`);
      return true;
    });
  } finally {
    delete process.env.GRADIENT_LENS_PYTHON_DIR;
    delete process.env.FAKE_TRAINER_MODE;
  }
});
