import type { Finding } from '../src/shared/findings';
import type { StepStats } from '../src/shared/stats';
import type { StepSeries } from '../src/shared/stepSeries';
import {
  DEFAULT_VIEW_SETTINGS,
  type ComparisonRun,
  type RunStatus,
  type SnapshotMessage,
  type ViewLayer,
  type ViewSettings,
} from '../src/shared/viewProtocol';
import { BucketedSeries } from './seriesStore';

/** Series indices in a trace's `lossAccuracy` store. */
export const LOSS_SERIES = 0;
export const ACCURACY_SERIES = 1;

/**
 * Most points the per-layer chart draws over all its layers. Rasterising the lines is most of
 * a frame's cost and grows with points drawn, so with many layers each gets fewer than
 * `chartPointBudget` (100 layers: 100 points each, still one bucket per few pixels).
 */
export const GRADIENT_CHART_TOTAL_POINTS = 10_000;

/** Loss/accuracy history and the last step of one run: all the before/after overlay needs. */
export interface RunTrace {
  label: string;
  lossAccuracy: BucketedSeries;
  latest: StepStats | null;
}

/**
 * The panel's copy of the run, kept small: per-layer gradient RMS and loss go into bounded
 * stores, and only the latest step is kept whole (for the flow and activation charts). The
 * StepStats objects the host sends are dropped once folded in, so the heap does not grow with
 * the number of steps.
 */
export class RunModel {
  status: RunStatus = { phase: 'idle' };
  modelPath: string | null = null;
  layers: ViewLayer[] = [];
  /** Layers with gradient statistics, in model-file order: one RMS series each. */
  instrumented: ViewLayer[] = [];
  gradientRms: BucketedSeries;
  current: RunTrace;
  comparison: RunTrace | null = null;
  findings: Finding[] = [];
  settings: ViewSettings = DEFAULT_VIEW_SETTINGS;
  /** Bumped when the set of layers changes, so views rebuild datasets and the legend. */
  layoutVersion = 0;
  /** Bumped on every change, so charts already drawn for this version are not drawn again. */
  version = 0;
  /** Bumped when the findings change, so the list is rebuilt only then. */
  findingsVersion = 0;
  private layerSlot = new Map<string, number>();
  private rmsScratch = new Float64Array(0);

  constructor() {
    this.gradientRms = this.makeRmsStore();
    this.current = this.makeTrace('this run');
  }

  setStatus(status: RunStatus): void {
    this.status = status;
    this.version++;
  }

  get stepCount(): number {
    return this.current.lossAccuracy.stepCount;
  }

  get hasRun(): boolean {
    return this.modelPath !== null;
  }

  applySnapshot(msg: SnapshotMessage): void {
    this.version++;
    this.status = msg.status;
    this.modelPath = msg.modelPath;
    // A host of an older build may leave out settings added since: the defaults fill them.
    this.settings = { ...DEFAULT_VIEW_SETTINGS, ...msg.settings };
    this.findings = [...msg.findings];
    this.findingsVersion++;
    this.setLayers(msg.layers);
    this.current = this.makeTrace('this run');
    this.appendSeries(msg.series);
    this.comparison = msg.comparison ? this.traceOf(msg.comparison) : null;
  }

  private appendSeries(series: StepSeries): void {
    const width = series.layers.length;
    const slots = series.layers.map((name) => this.layerSlot.get(name));
    for (let i = 0; i < series.step.length; i++) {
      this.rmsScratch.fill(NaN);
      slots.forEach((slot, column) => {
        if (slot !== undefined) this.rmsScratch[slot] = series.gradRms[i * width + column];
      });
      this.gradientRms.append(series.step[i], this.rmsScratch);
      this.current.lossAccuracy.append(series.step[i], [series.loss[i], series.accuracy[i]]);
    }
    this.current.latest = series.latest;
  }

  appendSteps(steps: StepStats[]): void {
    this.version++;
    for (const step of steps) {
      // A `steps` message may overlap a snapshot that raced it: keep each step once.
      if (step.step <= this.current.lossAccuracy.lastStep) continue;
      this.rmsScratch.fill(NaN);
      for (const layer of step.layers) {
        const slot = this.layerSlot.get(layer.layer);
        if (slot !== undefined) this.rmsScratch[slot] = layer.gradRms;
      }
      this.gradientRms.append(step.step, this.rmsScratch);
      this.current.lossAccuracy.append(step.step, [step.loss, step.accuracy ?? NaN]);
      this.current.latest = step;
    }
    // The host sends no status per step (steps come batched on their own): the header's "step N"
    // follows the steps, as the status bar's does, or a followed run reads "step 0" throughout.
    const latest = this.current.latest;
    if (this.status.phase === 'running' && latest && latest.step + 1 > (this.status.step ?? 0)) this.status = { ...this.status, step: latest.step + 1 };
  }

  addFinding(finding: Finding): void {
    this.version++;
    this.findings.push(finding);
    this.findingsVersion++;
  }

  clear(): void {
    this.version++;
    this.status = { phase: 'idle' };
    this.modelPath = null;
    this.findings = [];
    this.findingsVersion++;
    this.comparison = null;
    this.setLayers([]);
    this.current = this.makeTrace('this run');
  }

  private setLayers(layers: ViewLayer[]): void {
    this.layers = layers;
    this.instrumented = layers.filter((l) => l.instrumented);
    this.layerSlot = new Map(this.instrumented.map((l, i) => [l.name, i]));
    this.rmsScratch = new Float64Array(this.instrumented.length);
    this.gradientRms = this.makeRmsStore();
    this.layoutVersion++;
  }

  private traceOf(run: ComparisonRun): RunTrace {
    const trace = this.makeTrace(run.label);
    const { step, loss, accuracy } = run.series;
    for (let i = 0; i < step.length; i++) trace.lossAccuracy.append(step[i], [loss[i], accuracy[i]]);
    trace.latest = run.series.latest;
    return trace;
  }

  private makeRmsStore(): BucketedSeries {
    const layers = this.instrumented.length;
    const shareOfTotal = Math.floor(GRADIENT_CHART_TOTAL_POINTS / 2 / Math.max(1, layers));
    return new BucketedSeries(layers, Math.max(2, Math.min(this.bucketCapacity(), shareOfTotal)), true);
  }

  private makeTrace(label: string): RunTrace {
    return { label, lossAccuracy: new BucketedSeries(2, this.bucketCapacity(), false), latest: null };
  }

  /** Each bucket draws up to two points (its min and max), so half the point budget. */
  private bucketCapacity(): number {
    return Math.max(2, Math.floor(this.settings.chartPointBudget / 2));
  }
}
