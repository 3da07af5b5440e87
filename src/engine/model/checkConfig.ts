import { InputError } from '../errors';

/**
 * Checks of a Keras 2 shaped model config for what TF.js does not check, or checks in ways a
 * user cannot act on: a Functional graph whose calls can never all be resolved makes
 * `modelFromJSON` loop forever (it re-queues an unresolvable call and retries, with no
 * progress check), duplicate names surface only later as a stack from `tf.model`, and wrong
 * types end in "[object Object] is not a valid DataFormat" or "name.match is not a function".
 * Found by `npm run fuzz`; each check names the layer.
 */

type Json = unknown;
type JsonObject = Record<string, Json>;

interface LayerEntry {
  class_name?: Json;
  config?: Json;
  name?: Json;
  inbound_nodes?: Json;
  [key: string]: Json;
}

interface ModelEntry {
  class_name?: Json;
  config?: Json;
}

const MODEL_CLASS_NAMES = new Set(['Sequential', 'Functional', 'Model']);

/** A name longer than this is shortened in messages: the CLI prints them on one line. */
const NAME_IN_MESSAGE_CHARS = 60;

export function shortName(name: string): string {
  return name.length > NAME_IN_MESSAGE_CHARS ? `${name.slice(0, NAME_IN_MESSAGE_CHARS - 1)}…` : name;
}

export function quoteName(name: string): string {
  return JSON.stringify(shortName(name));
}

/** `[1, 2, 3]`, or its first elements and the count for a list of thousands. */
export function formatShape(shape: readonly unknown[]): string {
  const show = (d: unknown): string => (d === null || d === undefined ? 'None' : typeof d === 'number' ? String(d) : JSON.stringify(d) ?? String(d));
  if (shape.length <= 8) return `[${shape.map(show).join(', ')}]`;
  return `[${shape.slice(0, 6).map(show).join(', ')}, … (${shape.length} dimensions)]`;
}

function isObject(value: Json): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function layersOf(model: ModelEntry): LayerEntry[] {
  const layers = Array.isArray(model.config) ? model.config : isObject(model.config) ? model.config.layers : undefined;
  return Array.isArray(layers) ? (layers.filter(isObject) as LayerEntry[]) : [];
}

/** The name TF.js gives the layer: `config.name`, else (Functional) the entry's own `name`. */
function declaredName(layer: LayerEntry): Json {
  return isObject(layer.config) && layer.config.name !== undefined ? layer.config.name : layer.name;
}

/** Checks `model` and every model nested in it. Call after Lambda / unknown-class checks. */
export function checkModelConfig(filePath: string, model: ModelEntry): void {
  if (isObject(model.config) && !Array.isArray(model.config.layers)) {
    throw new InputError(filePath, `the ${String(model.class_name)} model's "layers" is ${JSON.stringify(model.config.layers)?.slice(0, 40) ?? 'missing'}, not a list`);
  }
  const layers = layersOf(model);
  const names = checkNames(filePath, layers, model.class_name !== 'Sequential');
  layers.forEach((layer, index) => {
    const name = names[index];
    if (typeof layer.class_name === 'string' && MODEL_CLASS_NAMES.has(layer.class_name)) {
      checkModelConfig(filePath, layer);
      return;
    }
    if (isObject(layer.config)) checkLayerSettings(filePath, name, String(layer.class_name), layer.config);
  });
  if (model.class_name !== 'Sequential' && isObject(model.config)) checkGraph(filePath, layers, names, model.config);
}

// ──── names ────

function checkNames(filePath: string, layers: LayerEntry[], functional: boolean): string[] {
  const seen = new Map<string, number>();
  return layers.map((layer, index) => {
    const name = declaredName(layer);
    const className = typeof layer.class_name === 'string' ? layer.class_name : 'layer';
    if (name === undefined && !functional) return `#${index}`;
    if (typeof name !== 'string' || name === '') {
      throw new InputError(filePath, `layer #${index} (${className}) has ${name === undefined ? 'no "name"' : `the name ${JSON.stringify(name)?.slice(0, 40)}`}; a layer name must be a non-empty string`);
    }
    // TF.js files a Functional layer under the entry's own "name" and resolves inbound nodes against it.
    if (functional && layer.name !== name) {
      const entry = typeof layer.name === 'string' ? `is named ${quoteName(layer.name)}` : 'has no "name" of its own';
      throw new InputError(filePath, `layer #${index} ${entry} but its config names it ${quoteName(name)}; in a Functional model the two must agree`, name);
    }
    const earlier = seen.get(name);
    if (earlier !== undefined) throw new InputError(filePath, `layers #${earlier} and #${index} are both named ${quoteName(name)}; layer names must be unique`, name);
    seen.set(name, index);
    return name;
  });
}

// ──── one layer's settings ────

/** Sizes in pixels or units: beyond this no CNN the engine could train has them, and TF.js's int32 index maths overflows long before 2^53. */
const MAX_GEOMETRY = 4096;
/** Dense units: ImageNet-21k heads have 21,843; far more would not fit the parameter limit anyway. */
const MAX_UNITS = 1 << 17;
/**
 * Conv filters (and depth multipliers): the widest CNNs use 2,048–4,096. A run trains on the CPU
 * or wasm: one conv of 65,536 filters on a 28×28 input was over ten seconds a step.
 */
const MAX_FILTERS = 4096;
const INITIALIZERS = new Set([
  'zeros', 'ones', 'constant', 'randomuniform', 'randomnormal', 'truncatednormal', 'identity', 'variancescaling',
  'glorotuniform', 'glorotnormal', 'henormal', 'heuniform', 'lecunnormal', 'lecununiform', 'orthogonal',
]);
const GEOMETRY_KEYS = ['kernel_size', 'strides', 'pool_size', 'size', 'dilation_rate'];
const COUNT_KEYS = ['filters', 'units', 'depth_multiplier'];
/** Settings TF.js turns into scalars: anything else ends in "Error creating a new Scalar" from the first step. */
const NUMBER_KEYS = ['epsilon', 'momentum', 'rate', 'alpha', 'theta', 'stddev', 'max_value', 'negative_slope', 'threshold'];
/** TF.js tests these for truthiness in one place and for `true` in another: BatchNormalization with scale 0 built without gamma, then read it. */
const BOOLEAN_KEYS = ['scale', 'center', 'use_bias', 'trainable'];
/** Settings TF.js compares against a few strings; anything else shows up as "[object Object] is not a valid …". */
const STRING_KEYS = ['padding', 'data_format', 'interpolation', 'dtype'];

function checkLayerSettings(filePath: string, name: string, className: string, config: JsonObject): void {
  const where = `layer ${quoteName(name)} (${className})`;
  for (const key of GEOMETRY_KEYS) {
    const value = config[key];
    if (value === undefined || value === null) continue;
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0 || list.length > 3 || !list.every((d) => Number.isInteger(d) && (d as number) >= 1 && (d as number) <= MAX_GEOMETRY)) {
      throw new InputError(filePath, `${where} has ${key} ${JSON.stringify(value).slice(0, 60)}: it must be a positive integer (or a list of up to 3) no larger than ${MAX_GEOMETRY}`, name);
    }
    // TF.js has no gradient for dilated convolutions (its conv2d gradients assert dilation 1).
    if (key === 'dilation_rate' && list.some((d) => d !== 1)) {
      throw new InputError(filePath, `${where} has dilation_rate ${JSON.stringify(value)}: TF.js cannot train dilated convolutions (it has no gradient for them); use dilation_rate 1`, name);
    }
  }
  // Strides past the window skip inputs entirely, which no real model does, and TF.js's wasm max-pool kernel reads out of bounds on them (then every later run in the process fails).
  const window = config.kernel_size ?? config.pool_size;
  const strides = config.strides;
  if (window !== undefined && window !== null && strides !== undefined && strides !== null) {
    const windowList = Array.isArray(window) ? window : [window];
    const strideList = Array.isArray(strides) ? strides : [strides];
    if (strideList.some((stride, i) => (stride as number) > (windowList[Math.min(i, windowList.length - 1)] as number))) {
      throw new InputError(filePath, `${where} has strides ${JSON.stringify(strides)} larger than its window ${JSON.stringify(window)}: it would skip inputs entirely`, name);
    }
  }
  for (const key of COUNT_KEYS) {
    const value = config[key];
    if (value === undefined) continue;
    const max = key === 'units' ? MAX_UNITS : MAX_FILTERS;
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
      throw new InputError(filePath, `${where} has ${key} ${JSON.stringify(value).slice(0, 60)}: it must be a positive integer no larger than ${max}`, name);
    }
  }
  for (const key of NUMBER_KEYS) {
    const value = config[key];
    if (value !== undefined && value !== null && !(typeof value === 'number' && Number.isFinite(value))) {
      throw new InputError(filePath, `${where} has ${key} ${JSON.stringify(value)?.slice(0, 60)}, which is not a number`, name);
    }
  }
  for (const key of BOOLEAN_KEYS) {
    // `scale`/`center` are switches of the normalisation layers only: Rescaling's scale is its factor.
    if ((key === 'scale' || key === 'center') && !className.endsWith('Normalization')) continue;
    const value = config[key];
    if (value !== undefined && value !== null && typeof value !== 'boolean') {
      throw new InputError(filePath, `${where} has ${key} ${JSON.stringify(value)?.slice(0, 60)}, which is not true or false`, name);
    }
  }
  for (const key of STRING_KEYS) {
    // ZeroPadding's padding is a list of pixel counts, not a mode.
    if (key === 'padding' && className.startsWith('ZeroPadding')) continue;
    const value = config[key];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw new InputError(filePath, `${where} has ${key} ${JSON.stringify(value).slice(0, 60)}, which is not a string`, name);
    }
  }
  for (const [key, value] of Object.entries(config)) {
    // TF.js resolves an unknown initializer name against every serializable class: "relu" became an activation whose output was used as the kernel.
    const initializer = typeof value === 'string' ? value : isObject(value) ? value.class_name : undefined;
    if (key.endsWith('_initializer') && typeof initializer === 'string' && !INITIALIZERS.has(initializer.replace(/_/g, '').toLowerCase())) {
      throw new InputError(filePath, `${where} has ${key} ${quoteName(initializer)}, which is not an initializer TF.js knows`, name);
    }
    // Initializers, regularizers, constraints, activations: `{class_name, config}` objects.
    if (!isObject(value) || !('class_name' in value)) continue;
    if (typeof value.class_name !== 'string') {
      throw new InputError(filePath, `${where} has a "${key}" whose "class_name" is ${JSON.stringify(value.class_name).slice(0, 40)}, not a string`, name);
    }
    if (value.config !== undefined && value.config !== null && !isObject(value.config)) {
      throw new InputError(filePath, `${where} has a "${key}" whose "config" is ${JSON.stringify(value.config).slice(0, 40)}, not an object`, name);
    }
    // Initializer settings are flat (mode, distribution, scale, seed): an object there became "[object Object] is not a valid FanMode".
    if (key.endsWith('_initializer') && isObject(value.config)) {
      const nested = Object.entries(value.config).find(([, v]) => typeof v === 'object' && v !== null);
      if (nested) throw new InputError(filePath, `${where} has a "${key}" whose "${nested[0]}" is ${JSON.stringify(nested[1]).slice(0, 40)}, not a number or string`, name);
    }
  }
}

// ──── the Functional graph ────

/** A reference to a tensor: `[layer_name, node_index, tensor_index, kwargs?]`. */
type TensorRef = [string, number, number, ...unknown[]];

function isTensorRef(value: Json): value is TensorRef {
  return (
    Array.isArray(value) &&
    value.length >= 3 &&
    value.length <= 4 &&
    typeof value[0] === 'string' &&
    Number.isInteger(value[1]) &&
    value[1] >= 0 &&
    Number.isInteger(value[2]) &&
    value[2] >= 0 &&
    (value[3] === undefined || value[3] === null || isObject(value[3]))
  );
}

/**
 * Replays TF.js's deserialization order (create every layer, then call each layer on its
 * inbound nodes once their inputs exist, pass after pass) without building anything, and
 * refuses the model where a pass makes no progress: TF.js would loop forever there.
 */
function checkGraph(filePath: string, layers: LayerEntry[], names: string[], config: JsonObject): void {
  const known = new Set(names);
  // InputLayers and nested models own node 0 from construction; other layers get one node per call.
  const nodes = new Map<string, number>();
  const pending = new Map<string, TensorRef[][]>();
  layers.forEach((layer, index) => {
    const name = names[index];
    const className = String(layer.class_name);
    nodes.set(name, className === 'InputLayer' || MODEL_CLASS_NAMES.has(className) ? 1 : 0);
    const inbound = layer.inbound_nodes ?? [];
    if (!Array.isArray(inbound)) throw new InputError(filePath, `layer ${quoteName(name)} has "inbound_nodes" that is not a list`, name);
    const calls = inbound.map((call, callIndex) => {
      if (!Array.isArray(call) || !call.every(isTensorRef)) {
        throw new InputError(
          filePath,
          `layer ${quoteName(name)} has a malformed inbound node #${callIndex}: expected a list of [layer name, node index, tensor index, {kwargs}] entries`,
          name,
        );
      }
      return call as TensorRef[];
    });
    pending.set(name, calls);
  });
  const nested = new Set(layers.filter((l) => MODEL_CLASS_NAMES.has(String(l.class_name))).map((l) => declaredName(l) as string));
  // A nested model's node 0 is its own inner graph: the outer graph can only use its calls (node 1 on).
  // Layers the engine builds have one output each; a nested model may have a few.
  const resolvable = (ref: TensorRef): boolean =>
    (nodes.get(ref[0]) ?? 0) > ref[1] && !(nested.has(ref[0]) && ref[1] === 0) && ref[2] < (nested.has(ref[0]) ? 64 : 1);
  let left = [...pending.values()].reduce((n, calls) => n + calls.length, 0);
  while (left > 0) {
    let progressed = false;
    for (const name of names) {
      const calls = pending.get(name)!;
      while (calls.length > 0 && calls[0].every(resolvable)) {
        if (calls.shift()!.length > 0) nodes.set(name, nodes.get(name)! + 1);
        left--;
        progressed = true;
      }
    }
    if (progressed) continue;
    const [name, calls] = [...pending.entries()].find(([, c]) => c.length > 0)!;
    const ref = calls[0].find((r) => !resolvable(r))!;
    if (!known.has(ref[0])) throw new InputError(filePath, `layer ${quoteName(name)} takes its input from ${quoteName(ref[0])}, which is not a layer of the model`, name);
    throw new InputError(
      filePath,
      `layer ${quoteName(name)} takes its input from ${ref[2] > 0 ? `output ${ref[2]} of ` : ''}node ${ref[1]} of layer ${quoteName(ref[0])}, which the model never creates (a cycle in "inbound_nodes", or a wrong node or tensor index)`,
      name,
    );
  }
  for (const key of ['input_layers', 'output_layers'] as const) {
    const refs = config[key];
    if (!Array.isArray(refs) || refs.length === 0 || !refs.every(isTensorRef)) {
      throw new InputError(filePath, `the Functional model's "${key}" must be a list of [layer name, node index, tensor index] entries`);
    }
    for (const ref of refs as TensorRef[]) {
      if (!known.has(ref[0])) throw new InputError(filePath, `"${key}" names ${quoteName(ref[0])}, which is not a layer of the model`);
      if (!resolvable(ref)) throw new InputError(filePath, `"${key}" refers to node ${ref[1]} of layer ${quoteName(ref[0])}, which the model never creates`, ref[0]);
    }
  }
}
