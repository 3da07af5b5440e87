/**
 * Coalesces items pushed at any rate into at most one flush per `intervalMs` (the panel gets
 * at most one update per interval however fast the engine reports). The first push after a quiet
 * period flushes at once; later ones wait for the interval to pass.
 */
export class UpdateThrottle<T> {
  private pending: T[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastFlush = -Infinity;

  constructor(
    private readonly intervalMs: number,
    private readonly flush: (items: T[]) => void,
    private readonly now: () => number = () => Date.now(),
  ) {}

  push(items: readonly T[]): void {
    this.pending.push(...items);
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastFlush + this.intervalMs - this.now());
    if (wait === 0) this.flushNow();
    else this.timer = setTimeout(() => this.flushNow(), wait);
  }

  /** Drops what is pending (e.g. the panel will get a full snapshot instead). */
  discard(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
  }

  flushNow(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const items = this.pending;
    this.pending = [];
    this.lastFlush = this.now();
    this.flush(items);
  }

  dispose(): void {
    this.discard();
  }
}
