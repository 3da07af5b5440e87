import type { StepStats } from '../../shared/stats';
import type { BatchSampler } from './batches';
import type { Trainer } from './trainer';

export interface LoopResult {
  history: StepStats[];
  stepMs: number[];
  cancelled: boolean;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs the instrumented steps. Yields to the event loop between steps so a cancel request
 * (an IPC message or a signal handler) is seen within one step.
 */
export async function runInstrumentedSteps(
  trainer: Trainer,
  sampler: BatchSampler,
  steps: number,
  onStep: (stats: StepStats) => void,
  signal?: AbortSignal,
): Promise<LoopResult> {
  const history: StepStats[] = [];
  const stepMs: number[] = [];
  for (let step = 0; step < steps; step++) {
    if (signal?.aborted) return { history, stepMs, cancelled: true };
    const { x, y } = sampler.next();
    const started = performance.now();
    const stats = trainer.stepInstrumented(x, y, step);
    stepMs.push(performance.now() - started);
    x.dispose();
    y.dispose();
    history.push(stats);
    onStep(stats);
    await yieldToEventLoop();
  }
  return { history, stepMs, cancelled: signal?.aborted ?? false };
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Engine events (steps, loading progress) per second when the caller sets no limit. */
export const DEFAULT_EVENTS_PER_SECOND = 20;

/** The least time between two engine events at `perSecond` events a second. */
export function eventIntervalMs(perSecond: number = DEFAULT_EVENTS_PER_SECOND): number {
  return 1000 / Math.max(1, perSecond);
}

/** Collects steps and hands them on at most `perSecond` times a second (DESIGN.md: ~20). */
export class StepBatcher {
  private pending: StepStats[] = [];
  private lastFlush = 0;
  private readonly intervalMs: number;

  constructor(
    private readonly send: (steps: StepStats[]) => void,
    perSecond?: number,
  ) {
    this.intervalMs = eventIntervalMs(perSecond);
  }

  add(stats: StepStats): void {
    this.pending.push(stats);
    if (performance.now() - this.lastFlush >= this.intervalMs) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.send(this.pending);
    this.pending = [];
    this.lastFlush = performance.now();
  }
}
