import type { DiagnosisContext } from '../diagnosis';
import type { LayerInfo } from '../model';
import type { LayerStepStats, StepStats } from '../stats';
import { thresholdsWith, type ThresholdName } from './thresholds';
import type { LrRangeResult } from '../lrRange';
import type { FindingCode } from '../codes';
import type { Finding } from '../findings';

/** How the loss moved over the run: the gate that turns a gradient symptom into a problem. */
export interface LossProgress {
  chanceLoss: number;
  initialLoss: number;
  finalLoss: number;
  /** (initial − final) / initial; negative when the loss rose. */
  relativeImprovement: number;
  /** Final loss within the chance band around ln C and no real improvement. */
  stuckAtChance: boolean;
  /** Final loss far above chance, rising a lot, or non-finite. */
  diverging: boolean;
  nonFiniteLoss: boolean;
  /** Loss fell enough for the run to count as learning. */
  learning: boolean;
}

/** The steps seen so far with the derived figures every rule reads. Pure, no state beyond the steps. */
export class History {
  readonly steps: StepStats[] = [];
  private readonly layerByName: Map<string, LayerInfo>;
  /** The value of a threshold for this run (the table's, or the user's override). */
  readonly threshold: (name: ThresholdName) => number;
  /** The learning-rate range test, once measured after the run (end-of-run rules only). */
  lrRange: LrRangeResult | undefined;
  /** What the rules decided so far (earlier rules in the list), for a rule that weighs its evidence against them. */
  found: ReadonlyMap<FindingCode, Finding> = new Map();

  constructor(readonly ctx: DiagnosisContext) {
    this.layerByName = new Map(ctx.layers.map((l) => [l.name, l]));
    this.threshold = thresholdsWith(ctx.options.thresholds);
  }

  add(step: StepStats): void {
    this.steps.push(step);
  }

  get length(): number {
    return this.steps.length;
  }

  get chanceLoss(): number {
    return Math.log(Math.max(2, this.ctx.numClasses));
  }

  layerInfo(name: string): LayerInfo | undefined {
    return this.layerByName.get(name);
  }

  /** Layers with gradient statistics, in the order the engine reports them (file order). */
  gradientLayers(): string[] {
    const first = this.steps[0];
    if (!first) return [];
    return first.layers.filter((s) => this.layerInfo(s.layer)?.instrumented !== false).map((s) => s.layer);
  }

  /** One layer's statistics at every step it appears in. */
  series(layer: string): LayerStepStats[] {
    const out: LayerStepStats[] = [];
    for (const step of this.steps) {
      const s = step.layers.find((l) => l.layer === layer);
      if (s) out.push(s);
    }
    return out;
  }

  /** Steps whose loss and gradients are all finite (rules on magnitudes read only these). */
  finiteSteps(): StepStats[] {
    return this.steps.filter((s) => Number.isFinite(s.loss) && s.layers.every((l) => l.gradNonFinite === 0 && Number.isFinite(l.gradRms)));
  }

  lossProgress(): LossProgress {
    const window = this.threshold('lossWindowSteps');
    const losses = this.steps.map((s) => s.loss);
    const chanceLoss = this.chanceLoss;
    const nonFiniteLoss = losses.some((l) => !Number.isFinite(l));
    const finite = losses.filter(Number.isFinite);
    const initialLoss = median(finite.slice(0, window));
    const finalLoss = median(finite.slice(-window));
    const relativeImprovement = initialLoss > 0 ? (initialLoss - finalLoss) / initialLoss : 0;
    const nearChance = Math.abs(finalLoss - chanceLoss) <= this.threshold('chanceLossBand') * chanceLoss;
    // A loss that ends at chance level has learnt nothing, however high it started (an exploded net falls from 1e3 to ln C and dies there).
    const learning = relativeImprovement >= this.threshold('minRelativeImprovement') && !nonFiniteLoss && !nearChance;
    const stuckAtChance = nearChance;
    const diverging =
      nonFiniteLoss ||
      finalLoss > this.threshold('divergingLossFactor') * chanceLoss ||
      finalLoss > this.threshold('divergingRiseFactor') * initialLoss;
    return { chanceLoss, initialLoss, finalLoss, relativeImprovement, stuckAtChance, diverging, nonFiniteLoss, learning: learning && !diverging };
  }
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Numbers as the messages quote them: 3 significant digits, exponent form when far from 1. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(1).replace('e+', 'e');
  if (a >= 100) return x.toFixed(0);
  return String(Number(x.toPrecision(3)));
}

/** Rounds evidence so that a report is stable across platforms' last-digit float noise. */
export function round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(4));
}
