import type { EngineProcess } from '../engine/runner';

/**
 * After a run, an engine is forked and waits for the next one (the fix-and-re-run loop): the
 * next Analyze skips the process start and module load (start → ready 0.2 s instead of 0.55 s
 * here). Unused for this long, it is stopped, giving back its ~80 MB.
 */
export const SPARE_ENGINE_IDLE_MS = 5 * 60_000;
/** Forking blocks the host's main thread for 20–50 ms: not while the finished run's results arrive. */
export const SPARE_ENGINE_DELAY_MS = 2_000;

interface Spare {
  engine: EngineProcess;
  execPath: string | undefined;
  timers: NodeJS.Timeout[];
}

/**
 * The one engine kept ahead of the next run (no vscode here, so it is tested in plain Node).
 * It never hands out an engine that has died: a spare the system killed while it waited (the
 * out-of-memory killer picks the idle engine as readily as a busy one) is replaced by a new one.
 */
export class SpareEngineSlot {
  private spare: Spare | undefined;

  constructor(
    private readonly create: (execPath: string | undefined) => EngineProcess,
    /** False while a run is active or the extension shuts down: the fork waits, or never happens. */
    private readonly mayFork: () => boolean,
    private readonly timing = { delayMs: SPARE_ENGINE_DELAY_MS, idleMs: SPARE_ENGINE_IDLE_MS },
  ) {}

  /** The spare when it is alive and made for `execPath`; else a new engine. */
  take(execPath: string | undefined): { engine: EngineProcess; prepared: boolean } {
    const spare = this.release();
    if (spare && !spare.engine.dead && spare.execPath === execPath) return { engine: spare.engine, prepared: spare.engine.running };
    void spare?.engine.dispose();
    return { engine: this.create(execPath), prepared: false };
  }

  /** After a run: a new spare, forked after a short delay, stopped when unused for long. */
  replenish(execPath: string | undefined): void {
    void this.release()?.engine.dispose();
    const spare: Spare = { engine: this.create(execPath), execPath, timers: [] };
    spare.timers.push(
      setTimeout(() => {
        if (this.spare === spare && this.mayFork()) spare.engine.prepare();
      }, this.timing.delayMs),
      setTimeout(() => {
        if (this.spare === spare) void this.release()?.engine.dispose();
      }, this.timing.idleMs),
    );
    this.spare = spare;
  }

  /** The engine waiting in the slot, if any (for the log and tests). */
  get waiting(): EngineProcess | undefined {
    return this.spare?.engine;
  }

  dispose(): Promise<void> {
    return this.release()?.engine.dispose() ?? Promise.resolve();
  }

  /** Takes the spare out of its slot (its timers stop); the caller runs or disposes it. */
  private release(): Spare | undefined {
    const spare = this.spare;
    this.spare = undefined;
    for (const timer of spare?.timers ?? []) clearTimeout(timer);
    return spare;
  }
}
