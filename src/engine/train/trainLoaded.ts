import type * as tf from '@tensorflow/tfjs';
import type { LayerInfo } from '../../shared/model';
import type { ResolvedRunOptions } from '../../shared/runOptions';
import type { StepStats } from '../../shared/stats';
import type { Dataset, LoadProgress } from '../data/dataset';
import { loadDataset } from '../data/load';
import type { LoadedModel } from '../model/load';
import { BatchSampler } from './batches';
import { runInstrumentedSteps, type LoopResult } from './loop';
import { createTrainer, threadsSetting, type DataParallelDecision } from './dataParallel';
import { Trainer, type TrainerOptions } from './trainer';

/** The loader's layers with what the build and the trainer know about each. */
function describeLayers(loaded: LoadedModel, instrumented: string[]): LayerInfo[] {
  return loaded.layers.map((info) => {
    const layer = loaded.model.layers.find((l) => l.name === info.name);
    const described: LayerInfo = { ...info, instrumented: instrumented.includes(info.name) };
    if (layer) {
      described.paramCount ??= layer.countParams();
      described.outputShape ??= (layer.outputShape as number[]).slice(1);
    }
    return described;
  });
}

/**
 * Keras image models often begin with `Rescaling(1./255)` and are fed raw pixel bytes
 * (`image_dataset_from_directory` yields 0–255); the loaders scale bytes to [0, 1] for every
 * other model, so such a model would see its inputs scaled twice.
 */
export function rescalesPixelBytes(model: tf.LayersModel): boolean {
  const first = model.layers.find((layer) => layer.getClassName() !== 'InputLayer');
  if (first?.getClassName() !== 'Rescaling') return false;
  const { scale, offset } = first.getConfig() as { scale?: unknown; offset?: unknown };
  return typeof scale === 'number' && Math.abs(scale * 255 - 1) < 1e-3 && (offset === undefined || offset === 0);
}

/** The data as the model expects it: pixel bytes back at 0–255 for a model that rescales them itself. */
export function dataForModel(dataset: Dataset, model: tf.LayersModel): Dataset {
  if (!dataset.fromBytes || !rescalesPixelBytes(model)) return dataset;
  return { ...dataset, name: `${dataset.name} (pixels 0–255 for the model's Rescaling)`, x: dataset.x.map((v) => v * 255) };
}

export interface TrainedRun extends LoopResult {
  layers: LayerInfo[];
  numClasses: number;
  dataName: string;
  /** Set when data-parallel steps were asked for (GRADIENT_LENS_THREADS): how many threads ran and why. */
  threads?: DataParallelDecision;
}

/** The run's data as this model expects it (see `dataForModel`). */
export async function loadRunData(loaded: LoadedModel, resolved: ResolvedRunOptions, onLoading?: LoadProgress): Promise<Dataset> {
  return dataForModel(await loadDataset(resolved.data, loaded.inputShape, loaded.numClasses, resolved.seed, onLoading), loaded.model);
}

/**
 * Loads the data for a model built with `loadModelFile(path, { seed })` (seeded initializers,
 * so the same seed starts from the same weights) and trains it for the resolved steps. Shared by the main
 * run and `--verify-fixes` reruns so both see the same batches and seed.
 */
export async function trainLoadedModel(
  loaded: LoadedModel,
  resolved: ResolvedRunOptions,
  hooks: {
    onLoading?: LoadProgress;
    onReady?: (layers: LayerInfo[], dataName: string) => void;
    onStep?: (step: StepStats) => void;
    /** A line for the engine's log (e.g. how many threads the steps run on). */
    onLog?: (line: string) => void;
    signal?: AbortSignal;
    /** The data when the caller loaded it already (`loadRunData`), e.g. to reuse it for the range test. */
    dataset?: Dataset;
  },
): Promise<TrainedRun> {
  const { numClasses } = loaded;
  const dataset = hooks.dataset ?? (await loadRunData(loaded, resolved, hooks.onLoading));
  const options: TrainerOptions = {
    optimizer: resolved.optimizer,
    learningRate: resolved.learningRate,
    loss: resolved.loss,
    clipNorm: resolved.clipNorm,
    clipValue: resolved.clipValue,
    seed: resolved.seed,
  };
  const threads = threadsSetting(process.env.GRADIENT_LENS_THREADS);
  const { trainer, decision } = threads > 1 ? await createTrainer(loaded.model, options, { batchSize: resolved.batchSize, threads, measure: process.env.GRADIENT_LENS_THREADS_MEASURE !== 'off' }) : { trainer: new Trainer(loaded.model, options), decision: undefined };
  if (decision) hooks.onLog?.(`training on ${decision.reason}`);
  try {
    const layers = describeLayers(loaded, trainer.instrumentedLayers);
    hooks.onReady?.(layers, dataset.name);
    const sampler = new BatchSampler(dataset, resolved.batchSize, resolved.seed);
    const result = await runInstrumentedSteps(trainer, sampler, resolved.steps, (stats) => hooks.onStep?.(stats), hooks.signal);
    return { ...result, layers, numClasses, dataName: dataset.name, ...(decision ? { threads: decision } : {}) };
  } finally {
    trainer.dispose();
  }
}

