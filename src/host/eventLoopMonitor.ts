import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopReport {
  maxMs: number;
  p99Ms: number;
  /** The engine message whose handling took longest: tells our own work from the rest of the host's. */
  slowestHandling: { type: string; ms: number };
  /**
   * Ticks that came late. `cpuMs` is the process's CPU time over the gap: near the gap, the
   * host was busy (our code, VS Code's, or GC); near zero, it was waiting for a core.
   * `queuedMs` (Linux) is how long the host's main thread sat runnable in the CPU run queue.
   * `majorFaults` (Linux): pages the process had to read back from disk over the gap; with
   * neither CPU nor queueing, a stall with major faults was waiting for the disk.
   */
  stalls: Array<{ atMs: number; gapMs: number; cpuMs: number; queuedMs?: number; majorFaults?: number; lastType: string }>;
  /** Garbage-collection pauses of the host over GC_REPORT_MS: V8 stops the main thread for them. */
  gcPauses: Array<{ atMs: number; ms: number; kind: string }>;
}

const GC_REPORT_MS = 20;
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak callbacks' };

const TICK_MS = 10;
const STALL_MS = 40;

/**
 * Measures how long the extension host's event loop stalls during a run (the quality bar is
 * < 50 ms: training must not run on this thread).
 */
export class EventLoopMonitor {
  private histogram: IntervalHistogram | undefined;
  private slowestHandling = { type: 'none', ms: 0 };
  private lastType = 'none';
  private stalls: EventLoopReport['stalls'] = [];
  private ticker: NodeJS.Timeout | undefined;
  private gcObserver: PerformanceObserver | undefined;
  private gcPauses: EventLoopReport['gcPauses'] = [];

  start(): void {
    this.histogram?.disable();
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.slowestHandling = { type: 'none', ms: 0 };
    this.stalls = [];
    const startedAt = performance.now();
    this.gcPauses = [];
    this.gcObserver?.disconnect();
    this.gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.duration < GC_REPORT_MS) continue;
        const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
        this.gcPauses.push({ atMs: entry.startTime - startedAt, ms: entry.duration, kind: GC_KINDS[kind ?? 0] ?? 'other' });
      }
    });
    this.gcObserver.observe({ entryTypes: ['gc'] });
    let last = startedAt;
    let lastCpu = process.cpuUsage();
    let lastQueued = runQueueWaitMs();
    let lastFaults = majorFaults();
    clearInterval(this.ticker);
    this.ticker = setInterval(() => {
      const now = performance.now();
      const cpu = process.cpuUsage();
      const queued = runQueueWaitMs();
      const faults = majorFaults();
      if (now - last > STALL_MS) {
        const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
        const queuedMs = queued !== undefined && lastQueued !== undefined ? queued - lastQueued : undefined;
        const faultCount = faults !== undefined && lastFaults !== undefined ? faults - lastFaults : undefined;
        this.stalls.push({ atMs: now - startedAt, gapMs: now - last - TICK_MS, cpuMs, queuedMs, majorFaults: faultCount, lastType: this.lastType });
      }
      last = now;
      lastCpu = cpu;
      lastQueued = queued;
      lastFaults = faults;
    }, TICK_MS);
  }

  noteHandled(type: string, ms: number): void {
    this.lastType = type;
    if (ms > this.slowestHandling.ms) this.slowestHandling = { type, ms };
  }

  /** Stops measuring; the largest delay seen since `start`, in milliseconds. */
  stop(): EventLoopReport {
    const histogram = this.histogram;
    this.histogram = undefined;
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.gcObserver?.disconnect();
    this.gcObserver = undefined;
    if (!histogram) return { maxMs: 0, p99Ms: 0, slowestHandling: this.slowestHandling, stalls: [], gcPauses: [] };
    histogram.disable();
    return { maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, slowestHandling: this.slowestHandling, stalls: this.stalls, gcPauses: this.gcPauses };
  }
}

/** The log's line for one run: the maximum, then each stall and GC pause that explains it. */
export function describeEventLoopReport(report: EventLoopReport): string {
  const stall = (s: EventLoopReport['stalls'][number]) =>
    `${s.gapMs.toFixed(0)} ms (CPU ${s.cpuMs.toFixed(0)} ms` +
    (s.queuedMs === undefined ? '' : `, queued ${s.queuedMs.toFixed(0)} ms`) +
    (s.majorFaults ? `, ${s.majorFaults} major faults` : '') +
    `) at +${s.atMs.toFixed(0)} ms after ${s.lastType}`;
  return (
    `event loop max delay ${report.maxMs.toFixed(1)} ms (p99 ${report.p99Ms.toFixed(1)} ms); ` +
    `slowest engine message handled in ${report.slowestHandling.ms.toFixed(1)} ms (${report.slowestHandling.type})` +
    (report.stalls.length ? `; stalls ${report.stalls.map(stall).join(', ')}` : '') +
    (report.gcPauses.length ? `; GC pauses ${report.gcPauses.map((g) => `${g.ms.toFixed(0)} ms ${g.kind} at +${g.atMs.toFixed(0)} ms`).join(', ')}` : '')
  );
}

/** The main thread's total wait in the CPU run queue, from Linux's schedstat; undefined elsewhere. */
function runQueueWaitMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/self/schedstat', 'utf8').split(' ');
    return Number(fields[1]) / 1e6;
  } catch {
    return undefined;
  }
}

/** The process's major page faults so far (Linux /proc/self/stat, field 12); undefined elsewhere. */
function majorFaults(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[9]);
  } catch {
    return undefined;
  }
}
