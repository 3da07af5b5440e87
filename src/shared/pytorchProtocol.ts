import type { Range } from './textRange';
import type { StepStats } from './stats';

/**
 * The engine ↔ PyTorch trainer protocol: JSON lines between the engine (Node) and
 * `python -m gradient_lens.trainer` (python/gradient_lens/), the user's own Python and torch.
 *
 * Channels, so that the user's own prints can never corrupt a message:
 * - engine → trainer: stdin, one JSON object per line (`TorchStartRequest` first, then `TorchCancel`);
 * - trainer → engine: file descriptor 3 (a pipe the engine opens), one JSON object per line;
 * - the user's stdout and stderr are the trainer's stdout and stderr: the engine logs them.
 *
 * The trainer computes the statistics and locates the modules; the rules, the fix planners and
 * the reports stay in TypeScript, so PyTorch files get the same diagnosis as Keras files.
 * Bump the version when a message changes shape (python/gradient_lens/protocol.py mirrors it).
 */
export const TORCH_PROTOCOL_VERSION = 1;

// ──── engine → trainer (stdin) ────

export interface TorchStartRequest {
  type: 'start';
  protocolVersion: number;
  /** Absolute path of the user's `.py` file. */
  modelPath: string;
  /** `--entry`: an `nn.Module` subclass or a zero-argument function returning a module. */
  entry?: string;
  /** `--input-shape C,H,W`. */
  inputShape?: number[];
  steps: number;
  batchSize: number;
  seed: number;
  /** Overrides; the trainer falls back to the file's literal `torch.optim.X(..., lr=…)`, then Adam 1e-3. */
  optimizer?: string;
  learningRate?: number;
  /**
   * 'auto' | 'synthetic' | 'fashion-mnist' | a path (IDX prefix, `.npy` pair, image folder).
   * For 'fashion-mnist' (and 'auto' on 1×28×28) the engine passes `fashionMnistDir`.
   */
  data: string;
  /** Folder of the shipped Fashion-MNIST subset (IDX files), so the trainer needs no copy of its own. */
  fashionMnistDir: string;
  /** Activation statistics every `activationEvery` steps (1 = every step, the short run's default). */
  activationEvery?: number;
  /** Seconds the import of the user's file may take before the trainer gives up (default 30). */
  importTimeoutSeconds?: number;
  /**
   * Run the learning-rate range test (python/gradient_lens/lr_range.py) instead of the
   * instrumented steps: one `lrRange` message, then `done`.
   */
  lrRangeTest?: { startLr: number; endLr: number; steps: number };
}

export interface TorchCancel {
  type: 'cancel';
}

export type EngineToTorchMessage = TorchStartRequest | TorchCancel;

// ──── trainer → engine (fd 3) ────

/** Where a module (or a functional activation) was constructed / called in the user's source. */
export interface TorchSourceSite {
  /** Absolute path of the file; usually the model file, not always (a block imported from elsewhere). */
  file: string;
  /** The call that constructed it, `nn.Conv2d(...)` from `n` to `)`. UTF-16 columns, zero-based lines. */
  range: Range;
  /** The whole statement holding that call (`self.conv1 = nn.Conv2d(...)`), for edits that add a line after it. */
  statementRange?: Range;
  /** Leading whitespace of that statement's first line, for inserted lines. */
  indent?: string;
  /**
   * How the module was constructed: an attribute (`self.conv = nn.Conv2d(...)`), an argument of
   * `nn.Sequential(...)` (or an item of a list literal passed to it / to `nn.ModuleList`), inside
   * a loop or helper function (`other`).
   */
  container: 'attribute' | 'sequential' | 'other';
}

export interface TorchLayer {
  /** Qualified module name: `features.0`, `layer1.conv` (no `module.` prefix). */
  name: string;
  /** torch class: `Conv2d`, `BatchNorm2d`, `Linear`, `ReLU`, … */
  className: string;
  /** True for modules whose own weight gets gradient statistics (Conv*, Linear, BatchNorm*, …). */
  instrumented: boolean;
  paramCount: number;
  /** Output shape without the batch dimension, from one forward pass (NCHW: [C, H, W]). */
  outputShape?: number[];
  /** Where the module was constructed; absent when the source could not be located (then the class line). */
  site?: TorchSourceSite;
  /**
   * For a module built inside a reusable block class: where the block was instantiated
   * (`self.layer1 = CustomCNNLayer(...)`), outermost last. Findings show these as related information.
   */
  instantiatedAt?: Array<TorchSourceSite & { qualifiedName: string; className: string }>;
  /**
   * The activation applied to this module's output (the next module run on it, or a functional
   * call in `forward` such as `torch.sigmoid(x)` / `F.relu(x)`), so activation statistics and the
   * activation fixes attach to the weighted layer as they do for a Keras `activation=`.
   * Lower-case names: 'relu', 'leaky_relu', 'sigmoid', 'tanh', 'elu', 'gelu', 'selu', 'softmax', 'linear'.
   */
  activation?: string;
  /** The activation's own call (`nn.Sigmoid()`, `nn.ReLU(inplace=True)`, `torch.sigmoid(x)`), in `activationFile` (default: `site.file`). */
  activationRange?: Range;
  activationFile?: string;
  /** Constructor arguments the fix planners need: `in_channels`, `out_channels`, `in_features`, `out_features`, `num_features`, kernel_size. */
  args?: Record<string, number | number[] | string | boolean | null>;
  /**
   * The expression that reaches this module from `self` in the top-level model's methods
   * (`self.conv1`, `self.features[0]`, `self.layer1.conv`), for inserted init lines.
   */
  accessPath?: string;
  /** Where `forward` calls this module (`self.conv1(x)`), for fixes that wrap the call. */
  callRanges?: Range[];
}

/** The file's literal optimizer construction, for the learning-rate fixes. */
export interface TorchOptimizerSite {
  /** `Adam`, `SGD`, … as written in `torch.optim.<Name>(...)`. */
  className: string;
  file: string;
  range: Range;
  learningRate?: number;
  /** The `lr=` value's range, where it is a literal. */
  learningRateRange?: Range;
}

export interface TorchReady {
  type: 'ready';
  protocolVersion: number;
  torchVersion: string;
  pythonVersion: string;
  /** The `nn.Module` class (or the entry function) that was trained. */
  entry: string;
  /** [C, H, W]. */
  inputShape: number[];
  numClasses: number;
  /** What the run uses after precedence (flags, the file's optimizer literal, defaults). */
  optimizer: string;
  learningRate: number;
  loss: string;
  /** Data source actually used ('fashion-mnist', 'synthetic', or the path). */
  data: string;
  /** Every module in `named_modules()` order except the root and pure containers. */
  layers: TorchLayer[];
  optimizerSite?: TorchOptimizerSite;
  /** Problems that do not stop the run (a final Softmax handled as logits, …). */
  warnings: string[];
}

/**
 * One training step: the shared `StepStats`, computed by python/gradient_lens/stats.py (the
 * same module `watch()` uses). Layer entries are keyed by qualified module name.
 */
export interface TorchStep {
  type: 'step';
  stats: StepStats;
}

/** The trainer could not run: `code` 'bad-input' for the user's file (exit 2 in the CLI). */
export interface TorchError {
  type: 'error';
  code: 'bad-input' | 'no-torch' | 'import-timeout' | 'internal';
  /** One line naming the file and the problem (a traceback never goes here). */
  message: string;
  /** Traceback or details, for the log only. */
  detail?: string;
  /** Candidates when no module could be picked: name and constructor parameters. */
  candidates?: Array<{ name: string; parameters: string[] }>;
  /** The layer a problem is in, when one layer's. */
  layer?: string;
}

export interface TorchDone {
  type: 'done';
  /** True when the run ended early because the engine sent `cancel`. */
  cancelled: boolean;
  stepsCompleted: number;
}

/** The range test's raw points, [rate, loss] per step (the analysis is src/shared/lrRange.ts). */
export interface TorchLrRange {
  type: 'lrRange';
  points: Array<[number, number]>;
}

export type TorchToEngineMessage = TorchReady | TorchStep | TorchError | TorchDone | TorchLrRange;
