/**
 * Coalesces redraw requests: however many messages arrive, the panel draws at most once per
 * `minIntervalMs`, on an animation frame (so nothing is drawn while the view is hidden).
 */
export class RedrawScheduler {
  private pending = false;
  private lastDraw = -Infinity;

  constructor(
    private readonly draw: () => void,
    private readonly minIntervalMs = 50,
  ) {}

  request(): void {
    if (this.pending) return;
    this.pending = true;
    const wait = this.lastDraw + this.minIntervalMs - performance.now();
    if (wait > 0) setTimeout(() => requestAnimationFrame(this.run), wait);
    else requestAnimationFrame(this.run);
  }

  private readonly run = (): void => {
    this.pending = false;
    this.lastDraw = performance.now();
    this.draw();
  };
}
