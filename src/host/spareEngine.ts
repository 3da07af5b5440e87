import type { EngineProcess } from '../engine/runner';

/**
 * After a run, an engine is forked and waits for the next one (the fix-and-re-run loop): the
 * next Analyze skips the process start and module load (start → ready 0.2 s instead of 0.55 s
 * here). After a TF.js run it also loads TF.js, starts the wasm backend and decodes the
 * Fashion-MNIST subset while it waits (childMain.ts), so the next Analyze goes straight to the
 * model (`npm run bench`'s first-finding table). Unused for this long, it is stopped, giving
 * back its memory (~80 MB, ~150 MB with TF.js loaded).
 */
export const SPARE_ENGINE_IDLE_MS = 5 * 60_000;
/** Forking blocks the host's main thread for 20–50 ms: not while the finished run's results arrive. */
export const SPARE_ENGINE_DELAY_MS = 2_000;

/** How the engine is made: for a run now, or to wait (`preloadTfjs`: ready for a TF.js model). */
export type EngineFactory = (execPath: string | undefined, waiting?: { preloadTfjs: boolean }) => EngineProcess;

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
    private readonly create: EngineFactory,
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

  /**
   * After a run: a new spare, forked after a short delay, stopped when unused for long. With
   * `preloadTfjs` (the run was a TF.js one, so the next most likely is too) it gets TF.js ready
   * as it waits; a PyTorch run's spare does not load it (the next run would not use it).
   */
  replenish(execPath: string | undefined, preloadTfjs = false): void {
    void this.release()?.engine.dispose();
    const spare: Spare = { engine: this.create(execPath, { preloadTfjs }), execPath, timers: [] };
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
