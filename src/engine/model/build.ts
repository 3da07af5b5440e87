import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors';
import { checkModelConfig, formatShape, quoteName } from './checkConfig';

/** A Keras 2 shaped model config: what `tf.models.modelFromJSON` deserializes. */
export interface KerasModelConfig {
  class_name: string;
  config: { name?: string; layers?: KerasLayerConfig[] } | KerasLayerConfig[];
  [key: string]: unknown;
}
interface KerasLayerConfig {
  class_name?: unknown;
  config?: Record<string, unknown>;
  [key: string]: unknown;
}

const MODEL_CLASS_NAMES = new Set(['Sequential', 'Functional', 'Model']);
/** Dimensions per example: [frames, height, width, channels] for video, one more for volumes. */
const MAX_INPUT_RANK = 5;
/** Values per example (64 MB of float32): a 2048×2048×4 image; more would not fit a batch of any size in memory. */
const MAX_INPUT_VALUES = 1 << 24;

/**
 * Builds the TF.js model from a Keras 2 shaped config. Layers TF.js cannot run are refused
 * before TF.js sees them, and whatever TF.js throws while building becomes an `InputError`
 * naming the layer where that can be found.
 */
export async function buildModel(filePath: string, config: KerasModelConfig, seed?: number): Promise<tf.LayersModel> {
  const topology = structuredClone(config);
  checkLayers(filePath, topology);
  checkModelConfig(filePath, topology);
  if (seed !== undefined) seedInitializers(topology, seed);
  let model: tf.LayersModel;
  try {
    model = await fromConfig(topology);
  } catch (error) {
    if (error instanceof WeightsTooLarge) throw new InputError(filePath, error.message, error.layer);
    const culprit = await findFailingSequentialLayer(topology);
    const reason = firstLine(error);
    if (culprit) throw new InputError(filePath, `layer ${quoteName(culprit.name)} (${culprit.className}) cannot be built: ${reason}`, culprit.name);
    throw new InputError(filePath, `the model cannot be built: ${reason}`);
  }
  try {
    checkNestedModelCalls(filePath, model);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/**
 * TF.js builds a call of a nested model without comparing the tensor it is called on with the
 * nested model's own input; the first training step then throws "Input 0 is incompatible with
 * layer dense" from inside it. Compared here, where the layer can be named.
 */
function checkNestedModelCalls(filePath: string, model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (!(layer instanceof tf.LayersModel)) continue;
    layer.inboundNodes.forEach((node, index) => {
      if (index === 0) return; // its own inner graph
      node.inputTensors.forEach((tensor, i) => {
        const expected = layer.inputs[i]?.shape.slice(1) ?? [];
        const actual = tensor.shape.slice(1);
        const agrees = expected.length === actual.length && expected.every((d, k) => d === null || actual[k] === null || d === actual[k]);
        if (!agrees) {
          throw new InputError(filePath, `nested model ${quoteName(layer.name)} takes input ${formatShape(expected)} but is called on ${formatShape(actual)}`, layer.name);
        }
      });
    });
  }
}

/**
 * When TF.js fails halfway through building, the layers it already built keep their weight
 * variables, which nothing else can reach: dispose every variable the failed build registered.
 */
async function fromConfig(topology: KerasModelConfig): Promise<tf.LayersModel> {
  const variablesBefore = new Set(Object.keys(tf.engine().registeredVariables));
  const unguard = guardWeightSizes();
  try {
    return await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
  } catch (error) {
    for (const [name, variable] of Object.entries(tf.engine().registeredVariables)) {
      if (!variablesBefore.has(name)) variable.dispose();
    }
    throw error;
  } finally {
    unguard();
  }
}

/**
 * Trainable in memory, with gradients and two optimizer moments beside the weights (~800 MB of
 * float32). A last line of defence while the model's shapes are only known to TF.js: a file
 * asking for `units: 1e9` is refused here before anything is allocated, instead of TF.js
 * attempting it (a RangeError at best, minutes of initialiser loops or a dead process at worst).
 */
export const MAX_PARAMETERS = 50_000_000;

class WeightsTooLarge extends Error {
  constructor(
    readonly layer: string,
    message: string,
  ) {
    super(message);
  }
}

/** TF.js creates every weight through `Layer.addWeight` with its final shape; checked there, for the duration of one build. */
function guardWeightSizes(): () => void {
  const prototype = tf.layers.Layer.prototype as unknown as { addWeight: (this: tf.layers.Layer, name: string, shape: number[], ...rest: unknown[]) => unknown };
  const original = prototype.addWeight;
  let total = 0;
  prototype.addWeight = function (name, shape, ...rest) {
    const values = shape.reduce((a, b) => a * b, 1);
    total += values;
    if (!Number.isSafeInteger(values) || values < 0 || total > MAX_PARAMETERS) {
      throw new WeightsTooLarge(
        this.name,
        `layer ${quoteName(this.name)} (${this.getClassName()}) needs a ${name} of shape ${formatShape(shape)} (${values.toExponential(2)} values), ` +
          `which takes the model over ${MAX_PARAMETERS.toExponential(0)} parameters, more than the engine can train in memory`,
      );
    }
    return original.call(this, name, shape, ...rest);
  };
  return () => {
    prototype.addWeight = original;
  };
}

function layerList(model: KerasModelConfig): KerasLayerConfig[] {
  const layers = Array.isArray(model.config) ? model.config : model.config?.layers;
  return Array.isArray(layers) ? layers : [];
}

function layerName(layer: KerasLayerConfig, index: number): string {
  const name = layer.config?.name ?? layer.name;
  return typeof name === 'string' ? name : `#${index}`;
}

/** Far more than any CNN (ResNet-152 has about 500); TF.js builds layers one by one, so 10^6 of them is minutes of work. */
const MAX_LAYERS = 10_000;

function checkLayers(filePath: string, model: KerasModelConfig): void {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const layers = layerList(model);
  if (layers.length > MAX_LAYERS) throw new InputError(filePath, `the model has ${layers.length} layers, more than the ${MAX_LAYERS} the engine analyses`);
  layers.forEach((layer, index) => {
    if (typeof layer !== 'object' || layer === null || Array.isArray(layer)) {
      throw new InputError(filePath, `layer #${index} is ${JSON.stringify(layer)?.slice(0, 40)}, not a {"class_name", "config"} object`);
    }
    const className = layer.class_name;
    const name = layerName(layer, index);
    if (typeof className !== 'string') throw new InputError(filePath, `layer ${quoteName(name)} has no "class_name"`, name);
    if (className === 'Lambda') {
      throw new InputError(filePath, `layer ${quoteName(name)} is a Lambda layer: it holds Python code, which cannot run outside Python; replace it with built-in layers`, name);
    }
    if (MODEL_CLASS_NAMES.has(className)) {
      checkLayers(filePath, layer as KerasModelConfig);
      return;
    }
    if (!(className in known)) {
      throw new InputError(filePath, `layer ${quoteName(name)} has class ${quoteName(className)}, which is not a layer TF.js knows (a custom or unsupported Keras layer)`, name);
    }
    // Keras' GRU defaults to reset_after=True (the cuDNN form); TF.js implements only the other (FACTS.md).
    if (className === 'GRU' && layer.config?.reset_after === true) {
      throw new InputError(filePath, `layer ${quoteName(name)} is a GRU with reset_after=True (Keras' default), which TF.js does not implement; build it with GRU(..., reset_after=False) to analyse it`, name);
    }
    // TF.js would blame the first layer after the input for a bad input shape.
    const inputShape = layer.config?.batch_input_shape;
    if (inputShape === undefined || inputShape === null) return;
    const where = `layer ${quoteName(name)} has input shape ${Array.isArray(inputShape) ? formatShape(inputShape) : JSON.stringify(inputShape).slice(0, 60)}`;
    // Whole numbers too: 28.5 pixels would reach TF.js's shape checks as a stack.
    if (!Array.isArray(inputShape) || inputShape.length < 2 || inputShape.slice(1).some((d) => !(Number.isInteger(d) && (d as number) > 0))) {
      throw new InputError(filePath, `${where}: every dimension must be positive`, name);
    }
    if (inputShape.length > MAX_INPUT_RANK + 1) {
      throw new InputError(filePath, `${where}: ${inputShape.length - 1} dimensions per example, more than the ${MAX_INPUT_RANK} an image model has at most`, name);
    }
    const values = (inputShape.slice(1) as number[]).reduce((a, b) => a * b, 1);
    if (values > MAX_INPUT_VALUES) {
      throw new InputError(filePath, `${where}: ${values.toExponential(2)} values per example, over the ${MAX_INPUT_VALUES.toExponential(2)} the engine can hold in a batch`, name);
    }
  });
}

/** Gives each unseeded random initializer (Keras writes `"seed": null`) its own seed, in file order. */
function seedInitializers(model: KerasModelConfig, seed: number): void {
  let next = seed;
  const visit = (m: KerasModelConfig): void => {
    for (const layer of layerList(m)) {
      if (typeof layer.class_name === 'string' && MODEL_CLASS_NAMES.has(layer.class_name)) {
        visit(layer as KerasModelConfig);
        continue;
      }
      for (const [key, value] of Object.entries(layer.config ?? {})) {
        const initConfig = (value as { config?: Record<string, unknown> } | null)?.config;
        // A config that is no object (a hand edit, or a mutation) is left for TF.js to refuse.
        if (key.endsWith('_initializer') && typeof initConfig === 'object' && initConfig !== null && 'seed' in initConfig && initConfig.seed == null) {
          initConfig.seed = next++;
        }
      }
    }
  };
  visit(model);
}

/**
 * TF.js errors rarely say which layer failed. For a Sequential model, building ever longer
 * prefixes of its layer list finds the first one that fails (this only runs after a failure).
 */
async function findFailingSequentialLayer(model: KerasModelConfig): Promise<{ name: string; className: string } | undefined> {
  if (model.class_name !== 'Sequential') return undefined;
  const layers = layerList(model);
  for (let count = 1; count <= layers.length; count++) {
    const last = layers[count - 1];
    if (last.class_name === 'InputLayer') continue;
    const prefix: KerasModelConfig = { ...model, config: Array.isArray(model.config) ? layers.slice(0, count) : { ...model.config, layers: layers.slice(0, count) } };
    try {
      (await fromConfig(prefix)).dispose();
    } catch {
      return { name: layerName(last, count - 1), className: String(last.class_name) };
    }
  }
  return undefined;
}

/** TF.js messages run to several lines of advice; the first says what is wrong. */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // "Unknown activation: x. This may be due to one of the following reasons:" — the reasons follow on later lines.
  const line = message.split('\n')[0].replace(/\s*This may be due to one of the following reasons:$/, '').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
