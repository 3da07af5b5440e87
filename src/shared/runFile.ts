import type { StepStats } from './stats';
import type { TorchLayer, TorchOptimizerSite } from './pytorchProtocol';

/**
 * Run files: what `gradient_lens.watch()` records of a real training run (DESIGN.md, "Watching
 * real training"; written by python/gradient_lens/watcher.py and run_file.py, kept in step with
 * them). JSON lines, append-only, each flushed as written: a header, one step record per logged
 * step, a close record when the script called `run.close()`. Bump RUN_FILE_VERSION with them.
 */
export const RUN_FILE_FORMAT = 'gradient-lens-run';
export const RUN_FILE_VERSION = 1;
/** Where runs are written under the working directory (or $GRADIENT_LENS_RUN_DIR). */
export const RUN_FOLDER = '.gradient-lens/runs';

/** A run file by its name: JSON lines (a model file is never `.jsonl`). */
export function isRunFilePath(file: string): boolean {
  return file.toLowerCase().endsWith('.jsonl');
}

export interface RunHeader {
  type: 'header';
  format: typeof RUN_FILE_FORMAT;
  protocolVersion: number;
  framework: 'pytorch';
  torchVersion: string;
  pythonVersion: string;
  /** The training script (absolute), and the file defining the model's class (the layers' "model file"). */
  script: string;
  modelFile: string;
  cwd: string;
  pid: number;
  /** Seconds since the epoch. */
  startedAt: number;
  /** The model's class name (the DDP wrapper's inner module). */
  entry: string;
  /** torch's class name (`SGD`, `AdamW`) and the first parameter group's learning rate at the start. */
  optimizer: string;
  learningRate: number;
  momentum?: number | null;
  /** Steps between logged steps. */
  every: number;
  distributed: boolean;
  worldSize: number;
  /** Ranks whose figures each record combines. */
  rankCount: number;
  backend: string | null;
  localWorldSize?: number;
  device: string;
  gradScaler: boolean;
  /** From the model's output on the first batch, when it was [batch, classes]. */
  numClasses?: number;
  outputShape?: number[];
  /** The trainer's `TorchLayer`s: located in the user's source files by the call-site mapper. */
  layers: TorchLayer[];
  /** The script's literal `torch.optim.X(..., lr=…)`, when it builds this optimizer's class. */
  optimizerSite?: TorchOptimizerSite;
}

export interface RunStepRecord {
  type: 'step';
  /** `loss` is absent when the script did not call `run.log(loss)` for that step. */
  stats: Omit<StepStats, 'loss'> & { loss?: number };
  /** Steps GradScaler skipped so far (inf/NaN in the scaled gradients). */
  skippedSteps: number;
  learningRate: number;
  time: number;
}

export interface RunCloseRecord {
  type: 'close';
  status: 'completed' | 'failed';
  steps: number;
  loggedSteps: number;
  skippedSteps: number;
  time: number;
  error?: string;
}

export type RunRecord = RunHeader | RunStepRecord | RunCloseRecord;

/** How a run ended, as far as its file tells. */
export type RunEnd =
  | { kind: 'completed'; close: RunCloseRecord }
  | { kind: 'failed'; close: RunCloseRecord }
  /** No close record (yet): a live run, or one that was killed or crashed. */
  | { kind: 'open' };
