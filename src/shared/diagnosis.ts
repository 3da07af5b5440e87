import type { Range } from './textRange';
import type { FindingCode } from './codes';
import type { Finding, Fix } from './findings';
import type { LayerInfo, ModelFormat } from './model';
import type { ResolvedRunOptions } from './runOptions';
import type { StepStats } from './stats';
import type { LrRangeResult } from './lrRange';
import type { TorchLayer, TorchOptimizerSite } from './pytorchProtocol';

/** What the rules know besides the statistics. */
export interface DiagnosisContext {
  layers: LayerInfo[];
  options: ResolvedRunOptions;
  numClasses: number;
}

/**
 * Rules over the statistics history. Deterministic: the same steps in give the same findings
 * out. `observe` returns only findings that are new and certain at this step (emitted live);
 * `finish` returns the ones that can only be decided at the end. Findings come without fixes.
 */
export interface Diagnoser {
  observe(step: StepStats): Finding[];
  /** `measured`: what was measured after the run (the learning-rate range test), for the rules that read it. */
  finish(measured?: FinalMeasurements): Finding[];
}

/** Measurements taken after the run that the end-of-run rules may read. */
export interface FinalMeasurements {
  lrRange?: LrRangeResult;
}

/** Everything a fix planner needs: the file text as the finding saw it, and where its layers are. */
export interface FixContext {
  text: string;
  format: ModelFormat;
  layers: LayerInfo[];
  options: ResolvedRunOptions;
  /**
   * The run started from trained weights read from the file (`.keras`, `.h5`, a Keras `.py`):
   * an initializer edit changes nothing such a model starts from, so those fixes are left out.
   */
  trainedWeights?: boolean;
  /** Keras `.py` files: where each layer was constructed, which the Keras Python planners edit by. */
  kerasPython?: KerasPythonFixContext;
  /** PyTorch files: what the trainer located in the source, which the Python planners edit by. */
  torch?: TorchFixContext;
  /** The learning-rate range test, when it ran: learning-rate fixes write its suggestion. */
  lrRange?: LrRangeResult;
}

/** The trainer's view of a PyTorch model file (pytorchProtocol's `ready`), for the Python fix planners. */
export interface TorchFixContext {
  /** Absolute path of the model file (`text` is its content); sites in other files are not edited. */
  modelPath: string;
  /** The class (or factory function) that was trained. */
  entry: string;
  layers: TorchLayer[];
  optimizerSite?: TorchOptimizerSite;
}

export type FixPlanner = (finding: Finding, ctx: FixContext) => Fix[];
export type { FindingCode };

/** Where the Keras exporter saw a layer constructed (python/gradient_lens/keras_export.py). */
export interface KerasSourceSite {
  /** The constructor call, `layers.Conv2D(...)`. */
  range: Range;
  /** The statement holding it (`x = layers.Conv2D(...)(x)`), for insertions after it. */
  statementRange?: Range;
  indent?: string;
  /** `sequential`: an element of a `Sequential([...])` list; `other`: anything else. */
  container?: string;
}

/** A Keras `.py` model file as the exporter saw it: `FixContext.text` is its source. */
export interface KerasPythonFixContext {
  modelPath: string;
  /** Layer name → its constructor's site in the model file (sites in other files are left out). */
  sites: Record<string, KerasSourceSite>;
}
