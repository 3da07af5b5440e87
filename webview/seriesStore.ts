export interface ChartPoint {
  x: number;
  y: number;
}

/**
 * The history of several series that share one step axis, kept at bounded resolution: steps fall
 * into at most `capacity` buckets, and each bucket remembers only each series' minimum and
 * maximum (with the steps they occurred at). When the buckets fill up, neighbours merge and the
 * bucket width doubles, so memory and points drawn stay constant however long the run is, while
 * spikes (the interesting part of a gradient trace) survive downsampling.
 *
 * Values that cannot be drawn on a log axis (NaN, ±Infinity, ≤ 0 when `positiveOnly`) are left
 * out of the extremes; a bucket where a series had none draws nothing for that series.
 */
export class BucketedSeries {
  private bucketWidth = 1;
  private bucketsUsed = 0;
  private steps = 0;
  private last = -1;
  private readonly minY: Float64Array[];
  private readonly minX: Float64Array[];
  private readonly maxY: Float64Array[];
  private readonly maxX: Float64Array[];

  constructor(
    readonly seriesCount: number,
    private readonly capacity: number,
    private readonly positiveOnly: boolean,
  ) {
    const make = () => Array.from({ length: seriesCount }, () => new Float64Array(capacity).fill(NaN));
    this.minY = make();
    this.minX = make();
    this.maxY = make();
    this.maxX = make();
  }

  /** Steps appended so far (before downsampling). */
  get stepCount(): number {
    return this.steps;
  }

  get lastStep(): number {
    return this.last;
  }

  /** `values[i]` is series i's value at `step`; steps must increase. */
  append(step: number, values: ArrayLike<number>): void {
    let bucket = Math.floor(step / this.bucketWidth);
    while (bucket >= this.capacity) {
      this.halveResolution();
      bucket = Math.floor(step / this.bucketWidth);
    }
    for (let s = 0; s < this.seriesCount; s++) {
      const y = values[s];
      if (!Number.isFinite(y) || (this.positiveOnly && y <= 0)) continue;
      const minY = this.minY[s];
      const maxY = this.maxY[s];
      if (Number.isNaN(minY[bucket]) || y < minY[bucket]) {
        minY[bucket] = y;
        this.minX[s][bucket] = step;
      }
      if (Number.isNaN(maxY[bucket]) || y > maxY[bucket]) {
        maxY[bucket] = y;
        this.maxX[s][bucket] = step;
      }
    }
    this.bucketsUsed = Math.max(this.bucketsUsed, bucket + 1);
    this.steps++;
    this.last = step;
  }

  /** Series `s` as at most 2 × capacity points in step order. */
  points(s: number): ChartPoint[] {
    const out: ChartPoint[] = [];
    const minY = this.minY[s];
    const minX = this.minX[s];
    const maxY = this.maxY[s];
    const maxX = this.maxX[s];
    for (let b = 0; b < this.bucketsUsed; b++) {
      if (Number.isNaN(minY[b])) continue;
      if (minX[b] === maxX[b]) {
        out.push({ x: minX[b], y: minY[b] });
      } else if (minX[b] < maxX[b]) {
        out.push({ x: minX[b], y: minY[b] }, { x: maxX[b], y: maxY[b] });
      } else {
        out.push({ x: maxX[b], y: maxY[b] }, { x: minX[b], y: minY[b] });
      }
    }
    return out;
  }

  private halveResolution(): void {
    for (let s = 0; s < this.seriesCount; s++) {
      const minY = this.minY[s];
      const minX = this.minX[s];
      const maxY = this.maxY[s];
      const maxX = this.maxX[s];
      // In place: target j = b >> 1 never exceeds b, and every slot below b was already read.
      for (let b = 0; b < this.bucketsUsed; b++) {
        const j = b >> 1;
        if (b % 2 === 0) {
          minY[j] = minY[b];
          minX[j] = minX[b];
          maxY[j] = maxY[b];
          maxX[j] = maxX[b];
          continue;
        }
        if (!Number.isNaN(minY[b]) && (Number.isNaN(minY[j]) || minY[b] < minY[j])) {
          minY[j] = minY[b];
          minX[j] = minX[b];
        }
        if (!Number.isNaN(maxY[b]) && (Number.isNaN(maxY[j]) || maxY[b] > maxY[j])) {
          maxY[j] = maxY[b];
          maxX[j] = maxX[b];
        }
      }
      const kept = Math.ceil(this.bucketsUsed / 2);
      minY.fill(NaN, kept);
      minX.fill(NaN, kept);
      maxY.fill(NaN, kept);
      maxX.fill(NaN, kept);
    }
    this.bucketsUsed = Math.ceil(this.bucketsUsed / 2);
    this.bucketWidth *= 2;
  }
}
