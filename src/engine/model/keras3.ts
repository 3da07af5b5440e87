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
  return normaliseValue(model, undefined) as JsonObject;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `key` is the property the value sits under; some values only need rewriting under one key. */
function normaliseValue(value: Json, key: string | undefined): Json {
  if (Array.isArray(value)) {
    if (key === 'input_layers' || key === 'output_layers') return nestedLayerRefs(value);
    return value.map((item) => normaliseValue(item, undefined));
  }
  if (!isObject(value)) return value;
  if (key === 'dtype' && value.class_name !== undefined) return dtypeFromPolicy(value);

  const out: JsonObject = {};
  for (const [childKey, childValue] of Object.entries(value)) {
    if (KERAS3_ONLY_KEYS.has(childKey)) continue;
    if (childKey === 'inbound_nodes' && Array.isArray(childValue)) out[childKey] = childValue.map(keras2InboundNode);
    else out[childKey] = normaliseValue(childValue, childKey);
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
function keras2InboundNode(node: Json): Json {
  if (!isObject(node)) return node; // already Keras 2 shaped
  const inputs: Json[] = [];
  collectTensorRefs(node.args ?? [], inputs);
  return inputs;
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
