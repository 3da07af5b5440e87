import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { locateModel, locateTrainingConfig, ModelTextError, type LocatedModel } from '../../shared/locator';
import type { FileTrainingConfig, LayerInfo, ModelFormat, WeightsSource } from '../../shared/model';
import { InputError } from '../errors';
import { registerMissingActivations } from './activations';
import { buildModel, type KerasModelConfig } from './build';
import { formatShape, quoteName } from './checkConfig';
import { keras3ToKeras2 } from './keras3';
import type { KerasSourceSite } from '../../shared/diagnosis';
import { exportKerasPython } from '../keras/kerasPython';
import { assignKerasWeights, isHdf5, isZip, readKerasH5, readKerasZip, type KerasFileContents } from './kerasFiles';
import { describeLayers } from './layerInfo';
import { checkTrainingMemory, type MemoryCheckOptions } from './memoryEstimate';
import { loadTfjsWeights } from './tfjsWeights';

export interface LoadedModel {
  /** Absolute path of the model file. */
  path: string;
  format: ModelFormat;
  /**
   * The file's text (BOM removed), which the layer ranges point into. For a binary Keras file
   * (`.keras`, `.h5`) or a Keras `.py`, the model config as JSON text: what the fix planners
   * edit and `--verify-fixes` rebuilds from.
   */
  text: string;
  /** The JSON shape of `text` (`keras3` for what Keras 3 wrote) where `format` is a binary or Python Keras file. */
  configFormat?: 'keras2' | 'keras3';
  /** Binary and Python Keras files: where the starting weights came from. */
  weightsSource?: WeightsSource;
  /** Binary and Python Keras files: what was read, so `--verify-fixes` rebuilds without reading (or running) the file again. */
  kerasFile?: { format: ModelFormat; contents: KerasFileContents };
  /** Keras `.py` files: the source (what markers and the Python fix planners use) and each layer's constructor site in it. */
  kerasPython?: { source: string; sites: Record<string, KerasSourceSite> };
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
  /** Keras files with weights: `init` starts from the initializers instead (`--weights init`). */
  weights?: 'trained' | 'init';
  /**
   * `--verify-fixes` on a binary Keras file: the edited config text to build instead of the
   * file's; the file's weights go into the layers that still match, new layers keep their initializers.
   */
  editedConfigText?: string;
  /** A Keras `.py` exported by the user's Keras: config and weights already read (see keras/). */
  exported?: { format: ModelFormat; contents: KerasFileContents };
  /** Keras `.py` files: the interpreter, `--entry`, and the time limit on running the file. */
  python?: string;
  entry?: string;
  importTimeoutSeconds?: number;
  /** Output of the user's `.py` while it builds the model. */
  log?: (line: string) => void;
}

/** Model files hold the architecture (and TF.js shard names), never the weights: 100 MB is far beyond a real one. */
export const MAX_MODEL_FILE_BYTES = 100 * 1024 * 1024;
/** `.keras` / `.h5` files carry the weights (and often optimizer state): 50M float32 parameters are 200 MB, twice that with Adam's moments. */
export const MAX_KERAS_FILE_BYTES = 1024 * 1024 * 1024;

/** Throws `InputError` (one line naming the file and the problem) for every bad input. */
export async function loadModelFile(filePath: string, options: LoadOptions = {}): Promise<LoadedModel> {
  registerMissingActivations();
  if (options.exported) return loadKerasContents(filePath, options.exported.format, options.exported.contents, options);
  if (filePath.toLowerCase().endsWith('.py')) return loadKerasPython(filePath, options);
  const bytes = await readModelBytes(filePath);
  if (isZip(bytes)) return loadKerasContents(filePath, 'keras', readKerasZip(filePath, bytes), options);
  if (isHdf5(bytes)) return loadKerasContents(filePath, 'keras-h5', readKerasH5(filePath, bytes), options);
  // VS Code's document text has no byte-order mark either, so ranges agree with the editor's.
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
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

/**
 * A `.py` that builds a Keras model: run in the user's Keras (keras/kerasPython.ts), then built
 * like a `.keras` file from what it returned. Layer ranges are the constructor calls in the `.py`.
 */
async function loadKerasPython(filePath: string, options: LoadOptions): Promise<LoadedModel> {
  const source = (await readModelBytes(filePath)).toString('utf8').replace(/^\uFEFF/, '');
  const exported = await exportKerasPython(filePath, { python: options.python, entry: options.entry, seed: options.seed, importTimeoutSeconds: options.importTimeoutSeconds }, options.log);
  const loaded = await loadKerasContents(filePath, 'keras-python', exported.contents, options);
  const nowhere = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  loaded.layers = loaded.layers.map((layer) => {
    // The JSON ranges point into the exported config, not the .py: only the call site is kept.
    const { nameRange: _n, activationRange: _a, initializerRange: _i, ...rest } = layer;
    return { ...rest, range: exported.sites[layer.name]?.range ?? nowhere };
  });
  loaded.kerasPython = { source, sites: exported.sites };
  return loaded;
}

/**
 * A `.keras` / `.h5` file, or what a Keras `.py` exported: its config text is located and built
 * like a Keras JSON file, then the file's weights are put into the layers (unless `--weights
 * init`). `format` is the file's; `configFormat` the shape of its config JSON.
 */
async function loadKerasContents(filePath: string, format: ModelFormat, contents: KerasFileContents, options: LoadOptions): Promise<LoadedModel> {
  const text = options.editedConfigText ?? contents.configText;
  const located = locate(filePath, text);
  // A legacy .h5 written by Keras 3 has the Keras 3 config layout without the `module` keys the locator spots it by (FACTS.md).
  const configFormat = located.format === 'keras3' || contents.kerasVersion?.startsWith('3') ? 'keras3' : 'keras2';
  const fileObject = JSON.parse(text) as Record<string, unknown>;
  const config = kerasModelConfig(fileObject, configFormat);
  const trainingConfig = roundedFloat32(locateTrainingConfig(text).config);
  checkTrainingMemory(filePath, config, options, trainingConfig.optimizer);
  const model = await buildModel(filePath, config, options.seed);
  try {
    const { inputShape, numClasses } = classifierShapes(filePath, model);
    const useTrained = options.weights !== 'init' && contents.weights !== undefined;
    const warnings = useTrained ? assignKerasWeights(filePath, model, contents.weights!, { lenient: options.editedConfigText !== undefined }) : [];
    if (contents.weights === undefined && format !== 'keras-python') warnings.push('the file has no weights: the run starts from the initializers in its config');
    return {
      path: path.resolve(filePath),
      format,
      text,
      configFormat,
      // A .py builds its model afresh: Keras' own initial weights (seeded), not trained ones.
      weightsSource: useTrained && format !== 'keras-python' ? { kind: 'trained', file: path.resolve(filePath) } : { kind: 'init' },
      kerasFile: { format, contents },
      model,
      layers: describeLayers(located.layers, model),
      trainingConfig: Object.keys(trainingConfig).length > 0 ? trainingConfig : undefined,
      weightsLoaded: useTrained,
      warnings,
      inputShape,
      numClasses,
    };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/**
 * Keras stores a learning rate as a float32 variable, so the files say 0.009999999776482582 for
 * 0.01 (FACTS.md): the shortest decimal with the same float32 value is what the user wrote.
 */
function roundedFloat32(config: FileTrainingConfig): FileTrainingConfig {
  const rate = config.learningRate;
  if (rate === undefined || Math.fround(rate) !== rate) return config;
  for (let digits = 1; digits <= 9; digits++) {
    const short = Number(rate.toPrecision(digits));
    if (Math.fround(short) === rate) return { ...config, learningRate: short };
  }
  return config;
}

async function startsBinary(filePath: string): Promise<boolean> {
  const handle = await fs.open(filePath, 'r');
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    return isZip(head) || isHdf5(head);
  } finally {
    await handle.close();
  }
}

async function readModelBytes(filePath: string): Promise<Buffer> {
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
  const limit = size > MAX_MODEL_FILE_BYTES && (await startsBinary(filePath)) ? MAX_KERAS_FILE_BYTES : MAX_MODEL_FILE_BYTES;
  if (size > limit) {
    throw new InputError(filePath, `the file is ${(size / 1024 / 1024).toFixed(1)} MB, over the ${limit / 1024 / 1024} MB limit for model files`);
  }
  if (size === 0) throw new InputError(filePath, 'the file is empty');
  return fs.readFile(filePath);
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
  // A legacy .h5's config text is `{model_config, training_config}`: unwrapped below like a saved JSON file.
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
