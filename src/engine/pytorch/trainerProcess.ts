import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { StepStats } from '../../shared/stats';
import type { EngineToTorchMessage, TorchDone, TorchError, TorchStartRequest, TorchToEngineMessage } from '../../shared/pytorchProtocol';

/**
 * The folder that holds the `gradient_lens` Python package (the project's python/). The engine
 * runs from dist/ (bundle; python/ one level up), from out/src/engine/pytorch/ in tests and
 * from an installed extension, so walk up until it shows rather than counting levels.
 */
export function pythonPackageDir(start = __dirname): string {
  // For work on the Python side (and the engine's own process tests): another copy of the package.
  const override = process.env.GRADIENT_LENS_PYTHON_DIR;
  if (override) return path.resolve(override);
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'python');
    if (existsSync(path.join(candidate, 'gradient_lens', '__init__.py'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`the Python package gradient_lens (python/) is missing above ${start}: the installation is incomplete`);
  }
}

/**
 * JSON has no NaN: the trainer writes NaN figures as null (and ±Infinity as ±1e999, which
 * JSON.parse reads back as ±Infinity). A figure that is null was NaN.
 */
export function restoreNaN(stats: StepStats): void {
  const record = stats as unknown as Record<string, unknown>;
  for (const key of ['loss', 'accuracy']) if (record[key] === null) record[key] = NaN;
  for (const layer of stats.layers) {
    const fields = layer as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) if (fields[key] === null) fields[key] = NaN;
  }
}

export interface TorchTrainerOptions {
  python: string;
  /** Folder holding `gradient_lens/` (put first on PYTHONPATH). */
  packageDir: string;
  /** The trainer's working directory: the model's folder, so the user's relative paths mean what they mean in their own runs. */
  cwd: string;
  /** Each line the user's code (or Python itself) wrote to stdout / stderr, already capped. */
  onOutput: (stream: 'stdout' | 'stderr', line: string) => void;
  /** How long a cooperative cancel may take before SIGTERM, and SIGTERM before SIGKILL. */
  cancelGraceMs?: number;
  env?: NodeJS.ProcessEnv;
}

export type TorchRunEnd =
  | { kind: 'done'; done: TorchDone }
  | { kind: 'error'; error: TorchError }
  /** The trainer exited (or could not start) without `done` or `error`. */
  | { kind: 'died'; message: string; detail?: string };

/** Lines of the user's output forwarded per stream; a chatty training script must not flood the log. */
export const OUTPUT_LINE_LIMIT = 200;
const OUTPUT_LINE_CHARS = 2_000;
const STDERR_TAIL_LINES = 30;
const DEFAULT_CANCEL_GRACE_MS = 3_000;

/**
 * Splits a byte stream into lines. A chunk may end mid-line (and mid-character: the decoder is
 * the stream's own, set to UTF-8), so the unfinished tail waits for the next chunk; whatever is
 * left when the stream ends is a last line, as a truncated last line must still be seen.
 */
export function readLines(stream: Readable, onLine: (line: string) => void, onEnd?: () => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).replace(/\r$/, '');
      pending = pending.slice(newline + 1);
      onLine(line);
      newline = pending.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (pending !== '') onLine(pending);
    pending = '';
    onEnd?.();
  });
}

/**
 * One run of `python -m gradient_lens.trainer` (python/gradient_lens/), the engine's own child:
 * the request goes in on stdin, messages come back as JSON lines on fd 3, the user's prints on
 * stdout / stderr go to `onOutput`. `run` resolves with how the run ended and never rejects.
 */
export class TorchTrainerProcess {
  private child: ChildProcess | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private cancelled = false;
  private exited = false;

  constructor(private readonly options: TorchTrainerOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  run(request: TorchStartRequest, onMessage: (msg: TorchToEngineMessage) => void): Promise<TorchRunEnd> {
    return new Promise((resolve) => {
      let end: TorchRunEnd | undefined;
      const stderrTail: string[] = [];
      let child: ChildProcess;
      try {
        child = spawn(this.options.python, ['-m', 'gradient_lens.trainer'], {
          cwd: this.options.cwd,
          stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
          env: trainerEnvironment(this.options.packageDir, this.options.env ?? process.env),
          windowsHide: true,
        });
      } catch (error) {
        resolve({ kind: 'died', message: `could not start ${this.options.python}: ${(error as Error).message}` });
        return;
      }
      this.child = child;
      const killOnEngineExit = () => child.kill('SIGKILL');
      // The engine may be killed mid-run (SIGTERM from the host): the trainer must not outlive it.
      process.once('exit', killOnEngineExit);

      const counts = { stdout: 0, stderr: 0 };
      const forward = (stream: 'stdout' | 'stderr') => (line: string) => {
        if (stream === 'stderr') {
          stderrTail.push(line);
          if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
        }
        counts[stream]++;
        if (counts[stream] <= OUTPUT_LINE_LIMIT) {
          this.options.onOutput(stream, line.length > OUTPUT_LINE_CHARS ? `${line.slice(0, OUTPUT_LINE_CHARS)}…` : line);
        } else if (counts[stream] === OUTPUT_LINE_LIMIT + 1) {
          this.options.onOutput(stream, `(further ${stream} output of the model file is not shown)`);
        }
      };
      readLines(child.stdout!, forward('stdout'));
      readLines(child.stderr!, forward('stderr'));

      let protocolEnded = false;
      let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let spawnError: Error | undefined;
      const settle = () => {
        // Both the exit and the end of fd 3 must be seen: the last messages can arrive after `exit`.
        if (!protocolEnded || !exitInfo) return;
        process.removeListener('exit', killOnEngineExit);
        for (const timer of this.timers) clearTimeout(timer);
        this.exited = true;
        resolve(end ?? this.death(exitInfo, spawnError, stderrTail));
      };
      readLines(
        child.stdio[3] as Readable,
        (line) => {
          if (line.trim() === '') return;
          let msg: TorchToEngineMessage;
          try {
            msg = JSON.parse(line) as TorchToEngineMessage;
          } catch {
            this.options.onOutput('stderr', `(unreadable trainer message: ${line.slice(0, 200)})`);
            return;
          }
          if (end) return;
          if (msg.type === 'step') restoreNaN(msg.stats);
          if (msg.type === 'done') end = { kind: 'done', done: msg };
          else if (msg.type === 'error') end = { kind: 'error', error: msg };
          onMessage(msg);
        },
        () => {
          protocolEnded = true;
          settle();
        },
      );
      child.on('error', (error) => {
        spawnError = error;
        // A spawn failure emits no `exit` and no stream ends on some platforms: settle here.
        if (child.pid === undefined) {
          protocolEnded = true;
          exitInfo = { code: null, signal: null };
          settle();
        }
      });
      child.on('exit', (code, signal) => {
        exitInfo = { code, signal };
        settle();
      });
      // A trainer that never reads stdin (or exited at once) must not crash the engine with EPIPE.
      child.stdin!.on('error', () => undefined);
      this.send(child.stdin!, request);
    });
  }

  /** Cooperative first (`cancel` on stdin: the trainer finishes its step and sends `done`), then SIGTERM, then SIGKILL. */
  cancel(): void {
    const child = this.child;
    if (!child || this.cancelled || this.exited) return;
    this.cancelled = true;
    this.send(child.stdin!, { type: 'cancel' });
    const grace = this.options.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS;
    this.timers.push(
      setTimeout(() => {
        if (this.exited) return;
        child.kill('SIGTERM');
        this.timers.push(setTimeout(() => !this.exited && child.kill('SIGKILL'), grace));
      }, grace),
    );
  }

  private send(stdin: Writable, msg: EngineToTorchMessage): void {
    if (stdin.writable) stdin.write(`${JSON.stringify(msg)}\n`);
  }

  private death(exit: { code: number | null; signal: NodeJS.Signals | null }, spawnError: Error | undefined, stderrTail: string[]): TorchRunEnd {
    const python = this.options.python;
    if (spawnError) {
      const missing = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
      return { kind: 'died', message: missing ? `the Python interpreter ${python} was not found` : `could not start ${python}: ${spawnError.message}` };
    }
    if (this.cancelled) return { kind: 'died', message: 'the PyTorch trainer was stopped before it reported' };
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const lastLine = [...stderrTail].reverse().find((line) => line.trim() !== '');
    return {
      kind: 'died',
      message: `the PyTorch trainer (${python}) ${how} before it finished${lastLine ? `: ${lastLine.trim()}` : ''}`,
      detail: stderrTail.join('\n'),
    };
  }
}

/** The package first on PYTHONPATH (the user's own entries kept), unbuffered output so prints arrive as they happen, no .pyc files left in the user's folders. */
export function trainerEnvironment(packageDir: string, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const existing = base.PYTHONPATH;
  return {
    ...base,
    PYTHONPATH: existing ? `${packageDir}${path.delimiter}${existing}` : packageDir,
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONIOENCODING: 'utf-8',
  };
}
