import type { LayerInfo } from '../../shared/model';
import type { ResolvedRunOptions } from '../../shared/runOptions';
import type { StepStats } from '../../shared/stats';
import { loadDataset } from '../data/load';
import { InputError } from '../errors';
import type { LoadedModel } from '../model/load';
import { BatchSampler } from './batches';
import { runInstrumentedSteps, type LoopResult } from './loop';
import { reinitialiseWeights } from './reinitialise';
import { Trainer } from './trainer';

/** Input shape (without batch) and class count, as the data loader needs them. */
export function modelIo(loaded: LoadedModel): { inputShape: number[]; numClasses: number } {
  const inputShape = loaded.model.inputs[0].shape.slice(1);
  if (loaded.model.inputs.length !== 1 || loaded.model.outputs.length !== 1) {
    throw new InputError(loaded.path, `the model has ${loaded.model.inputs.length} inputs and ${loaded.model.outputs.length} outputs; Gradient Lens trains single-input, single-output classifiers`);
  }
  if (inputShape.some((d) => d === null)) throw new InputError(loaded.path, `the input shape [${inputShape.join(', ')}] has unknown dimensions`);
  const outputShape = loaded.model.outputs[0].shape;
  const numClasses = outputShape[outputShape.length - 1];
  if (outputShape.length !== 2 || numClasses === null) {
    throw new InputError(loaded.path, `the output shape [${outputShape.slice(1).join(', ')}] is not one score per class`);
  }
  return { inputShape: inputShape as number[], numClasses };
}

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

export interface TrainedRun extends LoopResult {
  layers: LayerInfo[];
  numClasses: number;
  dataName: string;
}

/**
 * Loads the data for a built model and trains it for the resolved steps. Shared by the main
 * run and `--verify-fixes` reruns so both see the same batches and seed.
 */
export async function trainLoadedModel(
  loaded: LoadedModel,
  resolved: ResolvedRunOptions,
  hooks: { onReady?: (layers: LayerInfo[], dataName: string) => void; onStep?: (step: StepStats) => void; signal?: AbortSignal },
): Promise<TrainedRun> {
  const { inputShape, numClasses } = modelIo(loaded);
  if (!loaded.weightsLoaded) reinitialiseWeights(loaded.model, resolved.seed);
  const dataset = await loadDataset(resolved.data, inputShape, numClasses, resolved.seed);
  const trainer = new Trainer(loaded.model, {
    optimizer: resolved.optimizer,
    learningRate: resolved.learningRate,
    loss: resolved.loss,
    clipNorm: resolved.clipNorm,
    clipValue: resolved.clipValue,
    seed: resolved.seed,
  });
  try {
    const layers = describeLayers(loaded, trainer.instrumentedLayers);
    hooks.onReady?.(layers, dataset.name);
    const sampler = new BatchSampler(dataset, resolved.batchSize, resolved.seed);
    const result = await runInstrumentedSteps(trainer, sampler, resolved.steps, (stats) => hooks.onStep?.(stats), hooks.signal);
    return { ...result, layers, numClasses, dataName: dataset.name };
  } finally {
    trainer.dispose();
  }
}

