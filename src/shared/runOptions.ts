import type { BackendChoice, OptimizerName } from './codes';
import type { ThresholdOverrides } from './rules/thresholds';

/** What a caller may set for one run; anything left out comes from the model file, then defaults. */
export interface RunOptions {
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  optimizer?: OptimizerName;
  loss?: string;
  /** 'synthetic', 'fashion-mnist', or a path (IDX file pair prefix / folder / .npy pair). */
  data?: string;
  seed?: number;
  backend?: BackendChoice;
  /** Apply each finding's top fix in memory and rerun (diagnosis issue). */
  verifyFixes?: boolean;
  /**
   * The learning-rate range test (src/shared/lrRange.ts): 'always' (`--find-lr`), 'auto' (the
   * default: only when the run leaves a learning-rate finding suspected) or 'never' (the runs
   * `--compare-fixes` starts, which only need their outcome).
   */
  findLr?: 'always' | 'auto' | 'never';
  /** Apply every candidate fix of the top finding in memory, rerun each, rank them by outcome (`--compare-fixes`). */
  compareFixes?: boolean;
  /** Limit of `step` events per second sent to a listener (the engine batches in between). */
  maxEventsPerSecond?: number;
  /** The user's values for the diagnosis thresholds they may tune (settings only; the CLI uses the table's). */
  thresholds?: ThresholdOverrides;
  /**
   * Keras files with weights (`.keras`, `.h5`, a Keras `.py`): start from the file's trained
   * weights (`trained`, the default) or from the config's initializers (`init`, `--weights init`).
   */
  weights?: 'trained' | 'init';
  /**
   * `.keras` / `.h5` files: a `.py` that builds the same model (`--source`; in VS Code, a Keras
   * `.py` open beside the file). It is run by the user's Keras like a Keras `.py` model file, and
   * when its layers match the file's, markers land on its `layers.X(...)` calls.
   */
  kerasSource?: string;
  /** PyTorch files: `--entry`, the `nn.Module` subclass (or zero-argument factory) to train. */
  entry?: string;
  /** PyTorch files: `--input-shape C,H,W`. */
  inputShape?: number[];
  /** PyTorch files: the interpreter to run the trainer with (`--python`, `gradientLens.pythonPath`). */
  python?: string;
  /** PyTorch files: seconds the import of the user's file may take. */
  importTimeoutSeconds?: number;
  /** Run files (`.gradient-lens/runs/*.jsonl`): keep reading as the run writes, until its close record or cancel. */
  followRunFile?: boolean;
}

/** The options a run actually used, after the precedence rules of DESIGN.md. */
export interface ResolvedRunOptions {
  steps: number;
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerName;
  loss: string;
  data: string;
  seed: number;
  backend: string; // the backend actually used
  clipNorm?: number;
  clipValue?: number;
  thresholds?: ThresholdOverrides;
}

export const DEFAULT_RUN_OPTIONS = {
  steps: 100,
  batchSize: 32,
  optimizer: 'adam' as OptimizerName,
  seed: 42,
  backend: 'auto' as BackendChoice,
};

/** Default learning rate per optimizer (Keras defaults). */
export const DEFAULT_LEARNING_RATE: Record<OptimizerName, number> = {
  sgd: 0.01,
  momentum: 0.01,
  adam: 0.001,
  rmsprop: 0.001,
  adagrad: 0.001,
  adadelta: 1.0,
  adamax: 0.001,
};
