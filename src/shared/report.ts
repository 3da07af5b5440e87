import type { ModelFormat, WeightsSource } from './model';
import type { Range } from './textRange';
import type { Finding, FixComparison, FixVerification } from './findings';
import type { LrRangeResult } from './lrRange';

/** The `--format json` object of the CLI contract (DESIGN.md). Only ever extend it. */
export interface Report {
  schemaVersion: 1;
  model: {
    path: string;
    format: ModelFormat;
    /** `file`: where the layer is defined, when not in the model file (a PyTorch block imported from another module). */
    layers: Array<{ name: string; className: string; range: Range; file?: string }>;
    /** `.keras`, `.h5` and Keras `.py` files: whether the run started from the file's trained weights or a fresh initialisation. */
    weights?: WeightsSource;
  };
  run: {
    backend: string;
    steps: number;
    batchSize: number;
    optimizer: string;
    learningRate: number;
    seed: number;
    durationMs: number;
    stepMsMedian: number;
    /** Extensions beyond the contract. */
    loss?: string;
    data?: string;
    stepsCompleted?: number;
    cancelled?: boolean;
    /** `gradient-lens report`: the run file judged, its logged steps, how it ended, its ranks. */
    runFile?: string;
    loggedSteps?: number;
    /** 'live': read part-way while the writing process still runs. */
    ended?: 'completed' | 'failed' | 'abnormally' | 'live';
    worldSize?: number;
  };
  history: {
    loss: number[];
    accuracy?: number[];
  };
  findings: Finding[];
  /** Per-layer gradient figures at the first and last step (the text table). */
  layerSummary?: LayerSummary[];
  verifications?: FixVerification[];
  /** The learning-rate range test, when it ran (`--find-lr`, or a suspected learning-rate finding). */
  lrRange?: LrRangeResult;
  /** `--compare-fixes`: the top finding's candidate fixes, each rerun, best first. */
  comparison?: FixComparison;
  warnings?: string[];
}

export interface LayerSummary {
  name: string;
  className: string;
  gradRmsFirst: number;
  gradRmsLast: number;
  /** Last-step gradient RMS divided by the last instrumented layer's. */
  ratioToLast: number;
  deadFraction?: number;
  saturatedFraction?: number;
}
