/**
 * Coalesces redraw requests into cycles: however many messages arrive, a cycle starts at most
 * once per interval, on an animation frame (so nothing is drawn while the view is hidden). A
 * cycle may take several frames (`drawSlice` returns true while it has more to do), so no
 * single frame has to draw every chart. The interval is the one given (the panel's live
 * interval), stretched to four times the longest slice when drawing is slow (a busy machine, a
 * hundred layers), so drawing never takes more than about a quarter of the main thread and
 * scrolling and hovering stay responsive.
 */
export class RedrawScheduler {
  private pending = false;
  private inCycle = false;
  private requestedDuringCycle = false;
  private cycleStart = -Infinity;
  private longestSlice = 0;
  private interval: number;

  constructor(
    private readonly drawSlice: () => boolean,
    private readonly minIntervalMs = 50,
    private readonly maxIntervalMs = 1000,
  ) {
    this.interval = minIntervalMs;
  }

  request(): void {
    if (this.inCycle) this.requestedDuringCycle = true;
    if (this.pending) return;
    this.pending = true;
    const wait = this.cycleStart + this.interval - performance.now();
    if (wait > 0) setTimeout(() => requestAnimationFrame(this.run), wait);
    else requestAnimationFrame(this.run);
  }

  private readonly run = (): void => {
    const sliceStart = performance.now();
    if (!this.inCycle) {
      this.inCycle = true;
      this.cycleStart = sliceStart;
      this.longestSlice = 0;
    }
    const more = this.drawSlice();
    this.longestSlice = Math.max(this.longestSlice, performance.now() - sliceStart);
    if (more) {
      requestAnimationFrame(this.run);
      return;
    }
    this.inCycle = false;
    this.pending = false;
    this.interval = Math.min(this.maxIntervalMs, Math.max(this.minIntervalMs, 4 * this.longestSlice));
    if (this.requestedDuringCycle) {
      this.requestedDuringCycle = false;
      this.request();
    }
  };
}
