import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { ENGINE_PROTOCOL_VERSION, SIGTERM_EXIT_CODE, type EngineToHostMessage, type ErrorMessage, type HostToEngineMessage } from '../shared/engineProtocol';
import type { Report } from '../shared/report';
import type { RunOptions } from '../shared/runOptions';
import { lowerProcessPriority, type PriorityOutcome } from './processPriority';
import { engineEnv, engineExecArgv, engineLimits, MEMORY_LIMIT_ENV, type EngineLimits } from './resources';

export interface EngineProcessOptions {
  /** The engine bundle; defaults to `engine.js` next to the running bundle (dist/). */
  enginePath?: string;
  /** Node runtime to run the engine with (a user-set runtime, as vscode-eslint allows). */
  execPath?: string;
  /** Node flags after the engine's own (`--max-old-space-size` from the memory budget): a later flag wins. */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** The engine's memory budget in MB; default from `GRADIENT_LENS_MEMORY_MB` or the RAM (see resources.ts). */
  memoryLimitMb?: number;
  /**
   * IPC serialization, 'json' by default (JSON writes a NaN loss as null). The CLI takes
   * 'advanced' (structured clone: NaN and Infinity arrive as numbers), so its reports are
   * what they were when it ran the analysis in its own process.
   */
  serialization?: 'json' | 'advanced';
  /** How long a cooperative cancel may take before SIGTERM, and SIGTERM before SIGKILL. */
  cancelGraceMs?: number;
  /**
   * Run the engine as background work at this nice value (0–19), in a session of its own so
   * that the lower priority reaches it on Linux kernels with autogroups (see processPriority).
   * The extension sets it; the editor must stay responsive while the engine trains.
   */
  backgroundNice?: number;
}

export type EngineRunResult =
  | { kind: 'done'; report: Report }
  | { kind: 'error'; error: ErrorMessage }
  /** Cancelled and the engine had to be stopped by signal, so no report came. */
  | { kind: 'killed' };

export type EngineListener = (msg: EngineToHostMessage) => void;

const STDERR_TAIL_CHARS = 16_000;

/**
 * One analysis in a forked engine process (Node only, no vscode). Every engine message goes to
 * the listeners; `start` resolves with how the run ended, never rejects. A child that dies
 * without `done` or `error` becomes an `error` message (`out-of-memory` or `crashed`).
 */
export class EngineProcess {
  private child: ChildProcess | undefined;
  private readonly listeners = new Set<EngineListener>();
  private stderrTail = '';
  private finished = false;
  /** The analysis `start` began: where its result goes. */
  private run: { modelPath: string; resolve: (result: EngineRunResult) => void } | undefined;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private spawnError: Error | undefined;
  private cancelRequested = false;
  private exited: Promise<void> = Promise.resolve();
  private readonly escalationTimers: NodeJS.Timeout[] = [];
  /** What lowering the engine's priority did, when `backgroundNice` was set. */
  priority: PriorityOutcome | undefined;
  /** The memory budget the engine runs under (its heap limit, and what its estimate plans for). */
  readonly limits: EngineLimits;
  /** How far the run got, for the message when the engine dies: steps reported, of how many. */
  private progress: { stepsDone: number; steps?: number } = { stepsDone: 0 };

  constructor(private readonly options: EngineProcessOptions = {}) {
    this.limits = engineLimits(options.memoryLimitMb, options.env ?? process.env);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** A cancel was asked for (the CLI's second Ctrl+C stops the engine at once). */
  get cancelling(): boolean {
    return this.cancelRequested;
  }

  /** The child was forked and is gone (or could not start): this engine can run nothing. */
  get dead(): boolean {
    return this.exitStatus !== undefined || this.spawnError !== undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  onMessage(listener: EngineListener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * Forks the engine now, so that a later `start` skips the process start and the engine's
   * module load (about 0.4 s on a quiet machine, a second on a busy one). Idempotent; `start`
   * calls it. An engine prepared and never started waits for `start` until it is disposed.
   */
  prepare(): void {
    if (this.child) return;
    const enginePath = this.options.enginePath ?? path.join(__dirname, 'engine.js');
    const child = fork(enginePath, [], {
      execPath: this.options.execPath,
      execArgv: [...engineExecArgv(this.limits), ...(this.options.execArgv ?? [])],
      env: engineEnv(this.limits, this.options.env ?? process.env),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: this.options.serialization ?? 'json',
      // A session of its own, so its priority can be lowered without lowering the caller's.
      detached: this.options.backgroundNice !== undefined && process.platform !== 'win32',
    });
    this.child = child;
    if (this.options.backgroundNice !== undefined && child.pid !== undefined) this.priority = lowerProcessPriority(child.pid, this.options.backgroundNice);
    child.stdout?.resume();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    child.on('message', (msg: EngineToHostMessage) => {
      if (!this.run || this.finished) return;
      if (msg.type === 'ready') this.progress.steps = msg.options.steps;
      else if (msg.type === 'step' && msg.steps.length > 0) this.progress.stepsDone = msg.steps[msg.steps.length - 1].step + 1;
      this.emit(msg);
      if (msg.type === 'done') this.finish({ kind: 'done', report: msg.report });
      else if (msg.type === 'error') this.finish({ kind: 'error', error: msg });
    });
    this.exited = new Promise((exited) => {
      child.on('exit', (code, signal) => {
        this.clearTimers();
        this.exitStatus = { code, signal };
        if (this.run) this.endAfterExit();
        exited();
      });
    });
    child.on('error', (error) => {
      this.spawnError = error;
      if (this.run) this.failToStart();
    });
  }

  start(modelPath: string, runOptions: RunOptions): Promise<EngineRunResult> {
    if (this.run) throw new Error('EngineProcess runs one analysis; create another for the next run');
    this.prepare();
    return new Promise<EngineRunResult>((resolve) => {
      this.run = { modelPath, resolve };
      // A prepared engine may have failed or died while it waited.
      if (this.spawnError) this.failToStart();
      else if (this.exitStatus) this.endAfterExit();
      else this.post({ type: 'start', protocolVersion: ENGINE_PROTOCOL_VERSION, modelPath: path.resolve(modelPath), options: runOptions });
    });
  }

  private finish(result: EngineRunResult): void {
    if (this.finished || !this.run) return;
    this.finished = true;
    this.run.resolve(result);
  }

  /** The child is gone: a run that got no `done` or `error` ends as killed (asked for) or crashed. */
  private endAfterExit(): void {
    if (this.finished || !this.run || !this.exitStatus) return;
    const { code, signal } = this.exitStatus;
    // After our cancel the engine ends by a signal, or through its own SIGTERM handler (exit 143,
    // childMain.ts) when the step under way outlasted the grace: on a loaded machine, at nice 19,
    // one step of the 10-conv sample took longer than the 2 s (the e2e Stop test, CI 2026-12-04).
    if (this.cancelRequested && (signal || code === SIGTERM_EXIT_CODE)) {
      this.finish({ kind: 'killed' });
      return;
    }
    const error = this.crashMessage(this.run.modelPath, code, signal);
    this.emit(error);
    this.finish({ kind: 'error', error });
  }

  private failToStart(): void {
    if (!this.run || !this.spawnError) return;
    const message: ErrorMessage = { type: 'error', code: 'crashed', message: `${this.run.modelPath}: the engine could not start: ${this.spawnError.message}` };
    this.emit(message);
    this.finish({ kind: 'error', error: message });
  }

  /** Cooperative cancel (the engine ends the step and reports), then SIGTERM, then SIGKILL. Resolves once the child is gone. */
  cancel(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return this.exited;
    if (!this.cancelRequested) {
      this.cancelRequested = true;
      const grace = this.options.cancelGraceMs ?? 2000;
      this.post({ type: 'cancel' });
      this.escalationTimers.push(
        setTimeout(() => child.kill('SIGTERM'), grace),
        setTimeout(() => child.kill('SIGKILL'), grace * 2),
      );
    }
    return this.exited;
  }

  /** Stops the engine at once (extension deactivation, a second run replacing this one). */
  dispose(): Promise<void> {
    this.listeners.clear();
    this.clearTimers();
    if (this.child && this.running) {
      this.cancelRequested = true;
      this.child.kill('SIGKILL');
    }
    return this.exited;
  }

  private post(msg: HostToEngineMessage): void {
    if (this.child?.connected) this.child.send(msg);
  }

  private emit(msg: EngineToHostMessage): void {
    for (const listener of this.listeners) listener(msg);
  }

  private clearTimers(): void {
    for (const timer of this.escalationTimers.splice(0)) clearTimeout(timer);
  }

  private crashMessage(modelPath: string, code: number | null, signal: NodeJS.Signals | null): ErrorMessage {
    const detail = this.stderrTail.trim() || undefined;
    const budget = `${this.limits.memoryMb} MB`;
    if (/heap out of memory|Allocation failed|out of memory/i.test(this.stderrTail)) {
      return {
        type: 'error',
        code: 'out-of-memory',
        message: `${modelPath}: the engine ran out of memory ${this.where()} (its JavaScript heap is limited to ${budget}); try a smaller batch size, or raise the limit with ${MEMORY_LIMIT_ENV}=<MB>`,
        detail,
      };
    }
    // SIGKILL nobody here sent: on Linux most often the kernel's out-of-memory killer.
    if (signal === 'SIGKILL') {
      return {
        type: 'error',
        code: 'crashed',
        message: `${modelPath}: the engine was killed (SIGKILL) ${this.where()}; the system may have run out of memory (the engine's budget is ${budget}): try a smaller batch size or close other programs`,
        detail,
      };
    }
    const how = signal ? `was stopped by ${signal}` : `exited with code ${code}`;
    return { type: 'error', code: 'crashed', message: `${modelPath}: the engine ${how} ${this.where()}`, detail };
  }

  /** "after step 12 of 100" (the last step reported; steps arrive batched), or "before training started". */
  private where(): string {
    const { stepsDone, steps } = this.progress;
    if (steps === undefined) return 'before training started';
    return stepsDone === 0 ? `during step 1 of ${steps}` : `after step ${stepsDone} of ${steps}`;
  }
}
