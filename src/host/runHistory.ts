import type { Finding } from '../shared/findings';
import { describeWeights, type LayerInfo, type WeightsSource } from '../shared/model';
import type { Report } from '../shared/report';
import type { StepStats } from '../shared/stats';
import { StepSeriesBuilder } from '../shared/stepSeries';
import {
  VIEW_PROTOCOL_VERSION,
  type ComparisonRun,
  type RunStatus,
  type SnapshotMessage,
  type ViewLayer,
  type ViewSettings,
} from '../shared/viewProtocol';

export function toViewLayers(layers: readonly LayerInfo[]): ViewLayer[] {
  return layers.map((layer) => ({ name: layer.name, className: layer.className, instrumented: layer.instrumented === true }));
}

/**
 * Everything the host knows about the current run. The panel is only a cache of this: a
 * panel that was hidden or re-created gets a snapshot of it, never a gap.
 */
export class RunHistory {
  status: RunStatus = { phase: 'idle' };
  modelPath: string | null = null;
  layers: LayerInfo[] = [];
  /** The steps as the panel draws them; StepStats objects are not kept (a long run would hold millions). */
  private series = new StepSeriesBuilder([]);
  findings: Finding[] = [];
  comparison: ComparisonRun | null = null;
  report: Report | undefined;

  begin(modelPath: string, totalSteps: number | undefined, comparison: ComparisonRun | null): void {
    this.weights = undefined;
    this.status = { phase: 'starting', step: 0, totalSteps };
    this.modelPath = modelPath;
    this.layers = [];
    this.series = new StepSeriesBuilder([]);
    this.findings = [];
    this.comparison = comparison;
    this.report = undefined;
  }

  /** Slow input being prepared before training starts, e.g. "decoding images 128/512". */
  loading(what: string, done: number, total: number): void {
    this.status = { ...this.status, phase: 'starting', message: `${what} ${done}/${total}` };
  }

  /**
   * `totalSteps` undefined: a real run being followed, whose length nobody knows yet. `weights`:
   * Keras files with weights say whether the run starts from them; the status line shows it.
   */
  ready(layers: LayerInfo[], totalSteps: number | undefined, backend: string, weights?: WeightsSource): void {
    this.layers = layers;
    this.weights = weights;
    this.series = new StepSeriesBuilder(layers.filter((layer) => layer.instrumented).map((layer) => layer.name));
    this.status = { phase: 'running', step: 0, totalSteps, message: `backend ${backend}${this.weightsNote()}` };
  }

  private weights: WeightsSource | undefined;

  private weightsNote(): string {
    return this.weights ? `, ${describeWeights(this.weights)}` : '';
  }

  get stepCount(): number {
    return this.series.length;
  }

  addSteps(steps: readonly StepStats[]): void {
    this.series.append(steps);
    const last = steps[steps.length - 1];
    if (last) this.status = { ...this.status, step: last.step + 1 };
  }

  addFinding(finding: Finding): void {
    this.findings.push(finding);
  }

  /** The report is the final word on findings: it holds the live ones and those decided at the end. */
  finish(report: Report): void {
    this.report = report;
    this.findings = [...report.findings];
    const completed = report.run.stepsCompleted ?? this.series.length;
    this.status = {
      phase: report.run.cancelled ? 'cancelled' : 'done',
      step: completed,
      totalSteps: report.run.steps,
      message: `backend ${report.run.backend}${this.weightsNote()}, ${report.findings.length} finding(s)`,
    };
  }

  fail(message: string): void {
    this.status = { ...this.status, phase: 'failed', message };
  }

  clear(): void {
    this.begin('', undefined, null);
    this.modelPath = null;
    this.status = { phase: 'idle' };
  }

  snapshot(settings: ViewSettings): SnapshotMessage {
    return {
      type: 'snapshot',
      protocolVersion: VIEW_PROTOCOL_VERSION,
      status: this.status,
      modelPath: this.modelPath,
      layers: toViewLayers(this.layers),
      series: this.series.build(),
      findings: this.findings,
      comparison: this.comparison,
      settings,
      lrRange: this.report?.lrRange ?? null,
      fixComparison: this.report?.comparison ?? null,
    };
  }

  /** This run, as the "before" of a later run of the same file. */
  asComparison(): ComparisonRun {
    return { label: 'previous run', layers: toViewLayers(this.layers), series: this.series.build(), findings: this.findings };
  }
}
