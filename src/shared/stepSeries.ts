import type { StepStats } from './stats';

/**
 * A run's per-step history as the panel draws it, in columns of typed arrays. VS Code's
 * `webview.postMessage` carries typed arrays out of band as binary, while every plain object
 * goes through `JSON.stringify` with a replacer on the extension host's thread: a 200-step
 * snapshot as StepStats objects took 50–150 ms to post, long enough to stall the host.
 */
export interface StepSeries {
  /** The layers whose gradient RMS is recorded: the column order of `gradRms`. */
  layers: string[];
  step: Float64Array;
  loss: Float64Array;
  /** NaN where a step had no accuracy. */
  accuracy: Float64Array;
  /** Row-major, `gradRms[i * layers.length + column]`; NaN where a step lacked the layer. */
  gradRms: Float64Array;
  /** The newest step in full: the gradient-flow and activation-health charts draw it. */
  latest: StepStats | null;
}

export function emptyStepSeries(): StepSeries {
  return { layers: [], step: new Float64Array(0), loss: new Float64Array(0), accuracy: new Float64Array(0), gradRms: new Float64Array(0), latest: null };
}

/** Grows a StepSeries step by step in amortised O(layers) per step. */
export class StepSeriesBuilder {
  private count = 0;
  private capacity = 0;
  private step = new Float64Array(0);
  private loss = new Float64Array(0);
  private accuracy = new Float64Array(0);
  private gradRms = new Float64Array(0);
  private latest: StepStats | null = null;
  private readonly column: Map<string, number>;

  constructor(readonly layers: readonly string[]) {
    this.column = new Map(layers.map((name, i) => [name, i]));
  }

  get length(): number {
    return this.count;
  }

  append(steps: readonly StepStats[]): void {
    const width = this.layers.length;
    for (const stats of steps) {
      if (this.count === this.capacity) this.grow();
      const i = this.count++;
      this.step[i] = stats.step;
      this.loss[i] = stats.loss;
      this.accuracy[i] = stats.accuracy ?? NaN;
      const row = this.gradRms.subarray(i * width, (i + 1) * width);
      row.fill(NaN);
      for (const layer of stats.layers) {
        const column = this.column.get(layer.layer);
        if (column !== undefined) row[column] = layer.gradRms;
      }
      this.latest = stats;
    }
  }

  /** Exact-size copies: postMessage sends whole buffers, so views of the growing ones would carry their spare room. */
  build(): StepSeries {
    const width = this.layers.length;
    return {
      layers: [...this.layers],
      step: this.step.slice(0, this.count),
      loss: this.loss.slice(0, this.count),
      accuracy: this.accuracy.slice(0, this.count),
      gradRms: this.gradRms.slice(0, this.count * width),
      latest: this.latest,
    };
  }

  private grow(): void {
    this.capacity = Math.max(64, this.capacity * 2);
    const widen = (old: Float64Array, size: number) => {
      const wider = new Float64Array(size);
      wider.set(old);
      return wider;
    };
    this.step = widen(this.step, this.capacity);
    this.loss = widen(this.loss, this.capacity);
    this.accuracy = widen(this.accuracy, this.capacity);
    this.gradRms = widen(this.gradRms, this.capacity * this.layers.length);
  }
}
