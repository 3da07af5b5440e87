/**
 * Rewrites a Keras 3 model config into the Keras 2 shape TF.js reads (FACTS.md: Keras 3 JSON
 * fails as is). Keras 3 wraps every serialized object in `module` / `registered_name`, records
 * `build_config` / `compile_config`, writes dtypes as policy objects, gives InputLayer a
 * `batch_shape`, and writes Functional connections as serialized tensors
 * (`{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}]}`).
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const KERAS3_ONLY_KEYS = new Set(['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id']);

export function keras3ToKeras2(model: JsonObject): JsonObject {
  return normaliseValue(model, undefined, new Set()) as JsonObject;
}

const MODEL_CLASS_NAMES = new Set(['Sequential', 'Functional', 'Model']);

/**
 * Names of the layers of this model's config that are models themselves. Keras 3 numbers a
 * nested model's calls from node 0; Keras 2 and TF.js give a model built on its own inputs a
 * node 0 of its own (the inner graph), so its first call is node 1. Without the shift TF.js
 * wires the outer graph to the nested model's inner input ("Graph disconnected … input_layer_1").
 */
function nestedModelNames(value: JsonObject): Set<string> {
  const config = value.config;
  const layers = isObject(config) ? config.layers : undefined;
  const names = new Set<string>();
  if (!Array.isArray(layers)) return names;
  for (const layer of layers) {
    if (!isObject(layer) || typeof layer.class_name !== 'string' || !MODEL_CLASS_NAMES.has(layer.class_name)) continue;
    const name = layer.name ?? (isObject(layer.config) ? layer.config.name : undefined);
    if (typeof name === 'string') names.add(name);
  }
  return names;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `key` is the property the value sits under; some values only need rewriting under one key. */
/** `nested`: names of the nested models among the layers of the model `value` is part of (see `nestedModelNames`). */
function normaliseValue(value: Json, key: string | undefined, nested: Set<string>): Json {
  if (Array.isArray(value)) {
    if (key === 'input_layers' || key === 'output_layers') return nestedLayerRefs(value).map((ref) => shiftNodeIndex(ref, nested));
    return value.map((item) => normaliseValue(item, undefined, nested));
  }
  if (!isObject(value)) return value;
  if (key === 'dtype' && value.class_name !== undefined) return dtypeFromPolicy(value);
  // A model's config starts a new scope: its layers refer to its own nested models.
  const scope = typeof value.class_name === 'string' && MODEL_CLASS_NAMES.has(value.class_name) ? nestedModelNames(value) : nested;

  const out: JsonObject = {};
  for (const [childKey, childValue] of Object.entries(value)) {
    if (KERAS3_ONLY_KEYS.has(childKey)) continue;
    if (childKey === 'inbound_nodes' && Array.isArray(childValue)) out[childKey] = childValue.map((node) => keras2InboundNode(node, nested));
    else out[childKey] = normaliseValue(childValue, childKey, scope);
  }
  if (value.class_name === 'InputLayer' && isObject(out.config)) out.config = keras2InputLayerConfig(out.config);
  return out;
}

/** TF.js trains in float32; mixed-precision policies only change Keras' compute dtype. */
function dtypeFromPolicy(policy: JsonObject): Json {
  const name = isObject(policy.config) ? policy.config.name : undefined;
  if (typeof name !== 'string' || name.startsWith('mixed_') || name.endsWith('float16')) return 'float32';
  return name;
}

function keras2InputLayerConfig(config: JsonObject): JsonObject {
  const { batch_shape, optional, ...rest } = config;
  return batch_shape === undefined ? rest : { ...rest, batch_input_shape: batch_shape };
}

/** Keras 3 writes a single input or output as one flat `[name, node, tensor]` triple. */
function nestedLayerRefs(refs: Json[]): Json[] {
  return typeof refs[0] === 'string' ? [refs] : refs;
}

/** One call of a layer: Keras 2 lists `[layer_name, node_index, tensor_index, kwargs]` per input tensor. */
function keras2InboundNode(node: Json, nested: Set<string>): Json {
  if (!isObject(node)) return node; // already Keras 2 shaped
  const inputs: Json[] = [];
  collectTensorRefs(node.args ?? [], inputs);
  return inputs.map((ref) => shiftNodeIndex(ref, nested));
}

/** `[layer, node, tensor, …]` with `node + 1` when `layer` is a nested model (see `nestedModelNames`). */
function shiftNodeIndex(ref: Json, nested: Set<string>): Json {
  if (!Array.isArray(ref) || typeof ref[0] !== 'string' || typeof ref[1] !== 'number' || !nested.has(ref[0])) return ref;
  return [ref[0], ref[1] + 1, ...ref.slice(2)];
}

function collectTensorRefs(value: Json, into: Json[]): void {
  if (Array.isArray(value)) {
    for (const item of value) collectTensorRefs(item, into);
    return;
  }
  if (!isObject(value) || value.class_name !== '__keras_tensor__' || !isObject(value.config)) return;
  const history = value.config.keras_history;
  if (Array.isArray(history) && history.length >= 3) into.push([history[0], history[1], history[2], {}]);
}
