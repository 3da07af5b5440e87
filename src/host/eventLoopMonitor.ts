import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Measures how long the extension host's event loop stalls during a run (the quality bar is
 * < 50 ms: training must not run on this thread).
 */
export class EventLoopMonitor {
  private histogram: IntervalHistogram | undefined;

  start(): void {
    this.histogram?.disable();
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
  }

  /** Stops measuring; the largest delay seen since `start`, in milliseconds. */
  stop(): { maxMs: number; p99Ms: number } {
    const histogram = this.histogram;
    this.histogram = undefined;
    if (!histogram) return { maxMs: 0, p99Ms: 0 };
    histogram.disable();
    return { maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6 };
  }
}
