import * as path from 'node:path';
import { BACKENDS, OPTIMIZERS, type BackendChoice, type OptimizerName } from '../shared/codes';
import type { RunOptions } from '../shared/runOptions';
import { isValidThreshold, TUNABLE_THRESHOLDS, type ThresholdOverrides } from '../shared/rules/thresholds';
import { DEFAULT_VIEW_SETTINGS, type ViewSettings } from '../shared/viewProtocol';

/** Reads one `gradientLens.*` setting (key without the prefix); `undefined` when unset. */
export type SettingReader = (key: string) => unknown;

/** The optimizer setting's value meaning "whatever the model file's training config says". */
export const OPTIMIZER_FROM_MODEL = 'fromModel';

function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

/**
 * The run options the settings ask for. Learning rate and optimizer are overrides: left unset
 * (null / "fromModel"), the engine takes them from the model file's training config, then
 * its defaults.
 */
export function runOptionsFromSettings(read: SettingReader): RunOptions {
  const options: RunOptions = {};
  const steps = positiveInteger(read('steps'));
  if (steps !== undefined) options.steps = steps;
  const batchSize = positiveInteger(read('batchSize'));
  if (batchSize !== undefined) options.batchSize = batchSize;
  const learningRate = read('learningRate');
  if (typeof learningRate === 'number' && learningRate > 0 && Number.isFinite(learningRate)) options.learningRate = learningRate;
  const optimizer = read('optimizer');
  if (OPTIMIZERS.includes(optimizer as OptimizerName)) options.optimizer = optimizer as OptimizerName;
  const data = read('data');
  if (typeof data === 'string' && data.trim() !== '') options.data = data.trim();
  const seed = read('seed');
  if (typeof seed === 'number' && Number.isInteger(seed)) options.seed = seed;
  const backend = read('backend');
  if (BACKENDS.includes(backend as BackendChoice)) options.backend = backend as BackendChoice;
  const thresholds = thresholdOverrides(read('thresholds'));
  if (thresholds) options.thresholds = thresholds;
  return options;
}

/** The valid entries of the thresholds setting; invalid ones keep their defaults (VS Code already flags them in the settings editor). */
function thresholdOverrides(value: unknown): ThresholdOverrides | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const overrides: ThresholdOverrides = {};
  for (const name of TUNABLE_THRESHOLDS) {
    const setting = (value as Record<string, unknown>)[name];
    if (isValidThreshold(name, setting)) overrides[name] = setting;
  }
  return Object.keys(overrides).length > 0 ? overrides : undefined;
}

export function viewSettingsFromSettings(read: SettingReader): ViewSettings {
  const thresholds = thresholdOverrides(read('thresholds'));
  return {
    chartPointBudget: positiveInteger(read('chartPointBudget')) ?? DEFAULT_VIEW_SETTINGS.chartPointBudget,
    flowThresholds: {
      vanishingRatio: thresholds?.vanishingRatio ?? DEFAULT_VIEW_SETTINGS.flowThresholds.vanishingRatio,
      explodingRatio: thresholds?.explodingRatio ?? DEFAULT_VIEW_SETTINGS.flowThresholds.explodingRatio,
    },
  };
}

/** The Node binary the engine runs under: the user's, or the one running the extension host. */
export function engineRuntime(read: SettingReader): string | undefined {
  const runtime = read('nodeRuntime');
  return typeof runtime === 'string' && runtime.trim() !== '' ? runtime.trim() : undefined;
}

const DATA_KEYWORDS = new Set(['auto', 'synthetic', 'fashion-mnist']);

/**
 * A relative `gradientLens.data` path means relative to the workspace folder (as VS Code users
 * write paths in settings), not to the engine process's working directory, which is arbitrary.
 */
export function resolveDataSetting(data: string | undefined, baseFolder: string): string | undefined {
  if (data === undefined || DATA_KEYWORDS.has(data) || path.isAbsolute(data)) return data;
  return path.resolve(baseFolder, data);
}
