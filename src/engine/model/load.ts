import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { locateModel, locateTrainingConfig, ModelTextError, type LocatedModel } from '../../shared/locator';
import type { FileTrainingConfig, LayerInfo, ModelFormat } from '../../shared/model';
import { InputError } from '../errors';
import { registerMissingActivations } from './activations';
import { buildModel, type KerasModelConfig } from './build';
import { formatShape, quoteName } from './checkConfig';
import { keras3ToKeras2 } from './keras3';
import { describeLayers } from './layerInfo';
import { checkTrainingMemory, type MemoryCheckOptions } from './memoryEstimate';
import { loadTfjsWeights } from './tfjsWeights';

export interface LoadedModel {
  /** Absolute path of the model file. */
  path: string;
  format: ModelFormat;
  /** The file's text (BOM removed), which the layer ranges point into. */
  text: string;
  model: tf.LayersModel;
  /** Every top-level layer in file order, with its ranges and, once built, paramCount / outputShape / instrumented. */
  layers: LayerInfo[];
  trainingConfig?: FileTrainingConfig;
  /** True for a TF.js model whose weight shards were read; Keras JSON starts from its initializers. */
  weightsLoaded: boolean;
  /** Problems that do not stop a run, e.g. NaN weights. */
  warnings: string[];
  /** One example's shape, without the batch dimension (e.g. [28, 28, 1]). */
  inputShape: number[];
  /** Size of the model's class-score output. */
  numClasses: number;
}

export interface LoadOptions extends MemoryCheckOptions {
  /**
   * Seeds every initializer the file leaves unseeded (`"seed": null`), so the same file and
   * seed start from the same weights. Each initializer gets its own seed derived from this one.
   */
  seed?: number;
}

/** Model files hold the architecture (and TF.js shard names), never the weights: 100 MB is far beyond a real one. */
export const MAX_MODEL_FILE_BYTES = 100 * 1024 * 1024;

/** Throws `InputError` (one line naming the file and the problem) for every bad input. */
export async function loadModelFile(filePath: string, options: LoadOptions = {}): Promise<LoadedModel> {
  registerMissingActivations();
  const text = await readModelText(filePath);
  const located = locate(filePath, text);
  const fileObject = JSON.parse(text) as Record<string, unknown>;
  const config = kerasModelConfig(fileObject, located.format);
  const trainingConfig = locateTrainingConfig(text).config;
  // Before the build: TF.js allocates every weight while building.
  checkTrainingMemory(filePath, config, options, trainingConfig.optimizer);
  const model = await buildModel(filePath, config, options.seed);
  try {
    const { inputShape, numClasses } = classifierShapes(filePath, model);
    let warnings: string[] = [];
    let weightsLoaded = false;
    if (located.format === 'tfjs-layers' && fileObject.weightsManifest !== undefined) {
      warnings = await loadTfjsWeights(filePath, model, fileObject.weightsManifest);
      weightsLoaded = true;
    }
    return {
      path: path.resolve(filePath),
      format: located.format,
      text,
      model,
      layers: describeLayers(located.layers, model),
      trainingConfig: Object.keys(trainingConfig).length > 0 ? trainingConfig : undefined,
      weightsLoaded,
      warnings,
      inputShape,
      numClasses,
    };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

async function readModelText(filePath: string): Promise<string> {
  let size: number;
  try {
    const stat = await fs.stat(filePath);
    if (stat.isDirectory()) throw new InputError(filePath, 'is a folder, not a model file (for a TF.js model, give the path of its model.json)');
    size = stat.size;
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(filePath, code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? String(error)})`);
  }
  // Checked before reading: a huge file would otherwise be read whole into memory first.
  if (size > MAX_MODEL_FILE_BYTES) {
    throw new InputError(filePath, `the file is ${(size / 1024 / 1024).toFixed(1)} MB, over the ${MAX_MODEL_FILE_BYTES / 1024 / 1024} MB limit for model files`);
  }
  if (size === 0) throw new InputError(filePath, 'the file is empty');
  const bytes = await fs.readFile(filePath);
  const binaryFormat = recogniseBinaryModel(bytes);
  if (binaryFormat) {
    throw new InputError(filePath, `is a ${binaryFormat}, which is not supported yet: save the model as JSON (model.to_json()) or convert it with tensorflowjs_converter`);
  }
  // VS Code's document text has no byte-order mark either, so ranges agree with the editor's.
  return bytes.toString('utf8').replace(/^\uFEFF/, '');
}

function recogniseBinaryModel(bytes: Buffer): string | undefined {
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'Keras HDF5 (.h5) file';
  if (bytes.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) return 'zip archive (a .keras file?)';
  return undefined;
}

function locate(filePath: string, text: string): LocatedModel {
  try {
    return locateModel(text);
  } catch (error) {
    if (error instanceof ModelTextError) throw new InputError(filePath, error.problem);
    throw error;
  }
}

/** The `{class_name, config}` object TF.js deserializes, in the Keras 2 shape. */
function kerasModelConfig(fileObject: Record<string, unknown>, format: ModelFormat): KerasModelConfig {
  const holder = (format === 'tfjs-layers' ? fileObject.modelTopology : fileObject) as Record<string, unknown>;
  const model = (holder.model_config ?? holder) as KerasModelConfig;
  return format === 'keras3' ? (keras3ToKeras2(model as never) as unknown as KerasModelConfig) : model;
}

/**
 * The engine trains classifiers: one input, and one output of class scores per example. A
 * Dense straight after a conv (no Flatten) builds, but outputs a score map no label fits.
 */
function classifierShapes(filePath: string, model: tf.LayersModel): { inputShape: number[]; numClasses: number } {
  if (model.inputs.length !== 1) throw new InputError(filePath, `the model has ${model.inputs.length} inputs; only single-input models can be analysed`);
  if (model.outputs.length !== 1) throw new InputError(filePath, `the model has ${model.outputs.length} outputs; only single-output classifiers can be analysed`);
  const output = model.outputs[0];
  const outputLayer = output.sourceLayer.name;
  const outputShape = output.shape.slice(1);
  if (outputShape.length !== 1) {
    throw new InputError(
      filePath,
      `the output of layer ${quoteName(outputLayer)} has shape ${formatShape(outputShape)}, not [classes]: add a Flatten (or global pooling) before ${quoteName(outputLayer)}`,
    );
  }
  const numClasses = outputShape[0] ?? 0;
  if (numClasses < 2) throw new InputError(filePath, `layer ${quoteName(outputLayer)} outputs ${numClasses} value(s); a classifier needs at least 2 classes`, outputLayer);
  const inputShape = model.inputs[0].shape.slice(1);
  if (inputShape.some((d) => d === null || d <= 0)) {
    throw new InputError(filePath, `the input shape [${inputShape.map((d) => d ?? 'None').join(', ')}] must be fully known and positive`);
  }
  return { inputShape: inputShape as number[], numClasses };
}
