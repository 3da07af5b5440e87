import { isValidThreshold, TUNABLE_THRESHOLDS, type TunableThreshold } from '../../shared/rules/thresholds';
import { DEFAULT_LEARNING_RATE, DEFAULT_RUN_OPTIONS, type ResolvedRunOptions, type RunOptions } from '../../shared/runOptions';
import type { FileTrainingConfig } from '../../shared/model';
import { InputError, UsageError } from '../errors';
import { knownLosses, knownOptimizers, parseLossName, parseOptimizerName } from './trainingNames';

const DEFAULT_LOSS = 'categorical_crossentropy';

function positiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value <= 0)) throw new UsageError(`${name} must be a positive integer, got ${value}`);
}

/** Refuses options no run could use, before anything is loaded. */
export function validateRunOptions(options: RunOptions): void {
  positiveInteger('steps', options.steps);
  positiveInteger('batch size', options.batchSize);
  if (options.learningRate !== undefined && !(options.learningRate > 0 && Number.isFinite(options.learningRate))) {
    throw new UsageError(`learning rate must be a positive number, got ${options.learningRate}`);
  }
  if (options.seed !== undefined && !Number.isInteger(options.seed)) throw new UsageError(`seed must be an integer, got ${options.seed}`);
  if (options.optimizer !== undefined && !parseOptimizerName(options.optimizer)) {
    throw new UsageError(`unknown optimizer "${options.optimizer}" (known: ${knownOptimizers()})`);
  }
  if (options.loss !== undefined && !parseLossName(options.loss)) throw new UsageError(`unknown loss "${options.loss}" (known: ${knownLosses()})`);
  for (const [name, value] of Object.entries(options.thresholds ?? {})) {
    if (!(TUNABLE_THRESHOLDS as readonly string[]).includes(name)) throw new UsageError(`unknown threshold "${name}" (known: ${TUNABLE_THRESHOLDS.join(', ')})`);
    if (!isValidThreshold(name as TunableThreshold, value)) throw new UsageError(`threshold ${name} must be a positive number${name.endsWith('Fraction') ? ' up to 1' : ''}, got ${value}`);
  }
}

/**
 * DESIGN.md precedence: the run's options, then the file's training config, then defaults.
 * A file setting this engine cannot use becomes a warning and the default, except the loss:
 * training with another loss than the file names would diagnose a different problem.
 */
export function resolveRunOptions(
  options: RunOptions,
  file: FileTrainingConfig | undefined,
  modelPath: string,
  backend: string,
  warnings: string[],
): ResolvedRunOptions {
  validateRunOptions(options);
  let optimizer = options.optimizer;
  if (!optimizer && file?.optimizer) {
    optimizer = parseOptimizerName(file.optimizer);
    if (!optimizer) warnings.push(`the file's optimizer "${file.optimizer}" is not supported; using ${DEFAULT_RUN_OPTIONS.optimizer}`);
  }
  optimizer ??= DEFAULT_RUN_OPTIONS.optimizer;
  // 1e999 in a JSON file parses to Infinity; the optimizer would refuse it with a message that names no file.
  const fileLearningRate = file?.learningRate !== undefined && file.learningRate > 0 && Number.isFinite(file.learningRate) ? file.learningRate : undefined;
  if (file?.learningRate !== undefined && file.learningRate > 0 && fileLearningRate === undefined && options.learningRate === undefined) {
    warnings.push(`the file's learning rate ${file.learningRate} is not a finite number; using the optimizer's default`);
  }
  const loss = options.loss ?? file?.loss ?? DEFAULT_LOSS;
  if (!parseLossName(loss)) throw new InputError(modelPath, `unknown loss "${loss}" in the training config (known: ${knownLosses()})`);
  const resolved: ResolvedRunOptions = {
    steps: options.steps ?? DEFAULT_RUN_OPTIONS.steps,
    batchSize: options.batchSize ?? DEFAULT_RUN_OPTIONS.batchSize,
    learningRate: options.learningRate ?? fileLearningRate ?? DEFAULT_LEARNING_RATE[optimizer],
    optimizer,
    loss,
    data: options.data ?? 'auto',
    seed: options.seed ?? DEFAULT_RUN_OPTIONS.seed,
    backend,
  };
  if (file?.clipNorm !== undefined) resolved.clipNorm = file.clipNorm;
  if (file?.clipValue !== undefined) resolved.clipValue = file.clipValue;
  if (options.thresholds && Object.keys(options.thresholds).length > 0) resolved.thresholds = { ...options.thresholds };
  return resolved;
}
