import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import * as hdf5 from 'jsfive';
import { InputError } from '../errors';
import { formatShape, quoteName } from './checkConfig';

/**
 * Readers for the files Keras users keep: the `.keras` zip (Keras 3's `model.save()`) and the
 * legacy `.h5` (HDF5). Both are read in plain JS — `fflate` for the zip, `jsfive` for HDF5 — so
 * the engine needs no native addon and no Python (DESIGN.md, model files; FACTS.md, "Keras files
 * in JS" for the layouts and traps).
 *
 * The weights come out keyed by layer path (`conv2d`, or `block/conv2d_3` inside a nested model
 * `block`), each layer's weights in Keras order, which is TF.js's `layer.weights` order for the
 * layers TF.js has; `assignKerasWeights` puts them into the built TF.js model.
 */

export interface StoredWeight {
  /** Where in the file the values were (`layers/conv2d/vars/0`, `model_weights/conv2d/conv2d/kernel:0`), for messages. */
  where: string;
  /** The weight's own name (`kernel`, `moving_mean`) where the file records one (legacy `.h5`); `.keras` files keep only the order. */
  name?: string;
  shape: number[];
  values: Float32Array;
}

/** Layer path → its weights in order. */
export type KerasWeights = Map<string, StoredWeight[]>;

export interface KerasFileContents {
  /** The model config as JSON text (plus `training_config` / `compile_config`): what the locator and the fix planners read. */
  configText: string;
  /** Keras version that wrote the file, when it says. */
  kerasVersion?: string;
  /** Absent: the file has no weights (a `.keras` without `model.weights.h5`). */
  weights?: KerasWeights;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function isZip(bytes: Uint8Array): boolean {
  return ZIP_MAGIC.every((b, i) => bytes[i] === b);
}

export function isHdf5(bytes: Uint8Array): boolean {
  return HDF5_MAGIC.every((b, i) => bytes[i] === b);
}

const MODEL_CLASS_NAMES = new Set(['Sequential', 'Functional', 'Model']);

// ──── .keras (zip) ────

export function readKerasZip(filePath: string, bytes: Uint8Array): KerasFileContents {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (error) {
    throw new InputError(filePath, `is not a readable zip archive (corrupted or truncated? ${firstLine(error)})`);
  }
  const configBytes = entries['config.json'];
  if (!configBytes) {
    const names = Object.keys(entries).slice(0, 5).join(', ') || 'nothing';
    throw new InputError(filePath, `is a zip archive but not a Keras .keras file: it has no config.json (it holds ${names}); save the model with model.save("model.keras")`);
  }
  const config = parseJson(filePath, new TextDecoder().decode(configBytes), 'config.json');
  const metadata = entries['metadata.json'] ? tryParse(new TextDecoder().decode(entries['metadata.json'])) : undefined;
  const kerasVersion = typeof (metadata as { keras_version?: unknown } | undefined)?.keras_version === 'string' ? (metadata as { keras_version: string }).keras_version : undefined;
  const result: KerasFileContents = { configText: JSON.stringify(config, null, 2), kerasVersion };
  const weightBytes = entries['model.weights.h5'];
  if (weightBytes) {
    const h5 = openHdf5(filePath, weightBytes, 'model.weights.h5 inside it');
    result.weights = readZipWeights(filePath, h5, config);
  }
  return result;
}

/**
 * `.keras` weights are keyed by class and position in `model.layers`, not by layer name
 * (FACTS.md): `layers/<snake_case(Class)>[_k]/vars/<i>`, `_k` counting earlier layers of the
 * same class in the same model. So the config is walked in `model.layers` order and each
 * group is matched to the layer at that position.
 */
function readZipWeights(filePath: string, h5: hdf5.File, config: unknown): KerasWeights {
  const weights: KerasWeights = new Map();
  // Keras 2.13–2.15 wrote `_layer_checkpoint_dependencies` where Keras 3 writes `layers` (FACTS.md).
  const root = ['layers', '_layer_checkpoint_dependencies'].find((name) => asGroup(get(h5, name)));
  if (!root) throw new InputError(filePath, 'model.weights.h5 inside it has no "layers" group: it is not the weights of a Keras model');
  walkZipModel(filePath, h5, config as ConfigObject, root, '', weights);
  return weights;
}

interface ConfigObject {
  class_name?: unknown;
  config?: { name?: unknown; layers?: unknown } | unknown[];
}

function walkZipModel(filePath: string, h5: hdf5.File, model: ConfigObject, groupPath: string, layerPrefix: string, into: KerasWeights): void {
  const layers = configLayers(model);
  const isSequential = model.class_name === 'Sequential';
  const used = new Map<string, number>();
  for (const layer of layers) {
    const className = typeof layer.class_name === 'string' ? layer.class_name : 'Layer';
    // A Sequential model's `layers` leave its InputLayer out; a Functional model's keep it.
    if (isSequential && className === 'InputLayer') continue;
    let key = snakeCase(className);
    const seen = used.get(key);
    used.set(key, seen === undefined ? 0 : seen + 1);
    if (seen !== undefined) key = `${key}_${seen + 1}`;
    const name = layerNameOf(layer);
    const path = `${groupPath}/${key}`;
    const group = asGroup(get(h5, path));
    if (!group) {
      // Layers without weights may be absent in older writers; a weighted layer missing shows in assignKerasWeights.
      continue;
    }
    if (MODEL_CLASS_NAMES.has(className)) {
      const inner = group.keys.includes('layers') ? 'layers' : '_layer_checkpoint_dependencies';
      walkZipModel(filePath, h5, layer, `${path}/${inner}`, `${layerPrefix}${name}/`, into);
      continue;
    }
    const values = collectVars(filePath, h5, path);
    if (values.length > 0) into.set(`${layerPrefix}${name}`, values);
  }
}

/** A layer's own `vars/<i>` in numeric order (`10` after `9`, FACTS.md), then those of sub-objects it owns (an RNN's `cell`). */
function collectVars(filePath: string, h5: hdf5.File, path: string): StoredWeight[] {
  const group = asGroup(get(h5, path));
  if (!group) return [];
  const out: StoredWeight[] = [];
  const vars = asGroup(get(h5, `${path}/vars`));
  if (vars) {
    const indices = vars.keys.filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
    for (const index of indices) out.push(readDataset(filePath, h5, `${path}/vars/${index}`));
  }
  for (const child of group.keys) {
    if (child === 'vars' || child === 'layers') continue;
    out.push(...collectVars(filePath, h5, `${path}/${child}`));
  }
  return out;
}

/** Keras' `naming.to_snake_case`: `Conv2D` → `conv2d`, `MaxPooling2D` → `max_pooling2d`, `BatchNormalization` → `batch_normalization`. */
export function snakeCase(className: string): string {
  const spaced = className.replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2');
  return spaced.toLowerCase();
}

// ──── legacy .h5 ────

export function readKerasH5(filePath: string, bytes: Uint8Array): KerasFileContents {
  const h5 = openHdf5(filePath, bytes, 'it');
  const attrs = safeAttrs(filePath, h5);
  const modelConfig = attrString(attrs, 'model_config');
  if (modelConfig === undefined) {
    const hasWeights = h5.keys.includes('model_weights') || h5.keys.includes('layers') || attrs.layer_names !== undefined;
    if (hasWeights) {
      throw new InputError(
        filePath,
        'holds weights only, no model config (it was written by save_weights()); the engine needs the architecture too: model.save("model.keras") (or "model.h5") writes both',
      );
    }
    throw new InputError(filePath, 'is an HDF5 file but not a Keras model: it has no "model_config" attribute');
  }
  const model = parseJson(filePath, modelConfig, 'its model_config');
  const trainingText = attrString(attrs, 'training_config');
  const training = trainingText === undefined ? undefined : parseJson(filePath, trainingText, 'its training_config');
  // The saved-file shape the locator knows: `{model_config, training_config}` side by side.
  const holder: Record<string, unknown> = { model_config: model };
  if (training !== undefined) holder.training_config = training;
  const kerasVersion = attrString(attrs, 'keras_version');
  const weightsGroup = asGroup(get(h5, 'model_weights'));
  return { configText: JSON.stringify(holder, null, 2), kerasVersion, weights: weightsGroup ? readLegacyWeights(filePath, h5) : undefined };
}

/**
 * `model_weights/<layer>/` lists its weights in the `weight_names` attribute, each a path
 * relative to the group: `conv2d/kernel:0` (Keras 2), `conv2d/kernel` (Keras 3), and for a
 * nested model `block/conv2d_3/kernel` — all trainable weights before BatchNorm's moving
 * statistics there (FACTS.md), so weights are grouped by the inner layer they name.
 */
function readLegacyWeights(filePath: string, h5: hdf5.File): KerasWeights {
  const weights: KerasWeights = new Map();
  const group = asGroup(get(h5, 'model_weights'))!;
  const listed = attrStrings(safeAttrs(filePath, group), 'layer_names');
  const layerNames = listed ?? group.keys.filter((k) => k !== 'top_level_model_weights');
  for (const top of layerNames) {
    const layerGroup = asGroup(get(h5, `model_weights/${top}`));
    if (!layerGroup) continue;
    const names = attrStrings(safeAttrs(filePath, layerGroup), 'weight_names') ?? [];
    for (const weightName of names) {
      const where = `model_weights/${top}/${weightName}`;
      const stored = readDataset(filePath, h5, where);
      const parts = weightName.replace(/:\d+$/, '').split('/');
      stored.name = parts[parts.length - 1];
      const inner = parts.length >= 2 ? parts[parts.length - 2] : top;
      const path = inner === top ? top : `${top}/${inner}`;
      const list = weights.get(path) ?? [];
      list.push(stored);
      weights.set(path, list);
    }
  }
  return weights;
}

// ──── HDF5 helpers ────

function openHdf5(filePath: string, bytes: Uint8Array, what: string): hdf5.File {
  if (!isHdf5(bytes)) throw new InputError(filePath, `${what === 'it' ? 'is' : `${what} is`} not an HDF5 file (no HDF5 signature)`);
  const declared = hdf5DeclaredLength(bytes);
  if (declared !== undefined && declared > bytes.length) {
    throw new InputError(filePath, `${what === 'it' ? 'is a' : `${what} is a`} truncated HDF5 file: ${bytes.length} bytes of the ${declared} its header declares`);
  }
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    const file = new hdf5.File(buffer, filePath);
    void file.keys; // jsfive reads the root group lazily: a truncated file fails here, not later
    return file;
  } catch (error) {
    throw new InputError(filePath, `${what === 'it' ? 'is a' : `${what} is a`} corrupted or truncated HDF5 file (${firstLine(error)})`);
  }
}

/**
 * The end-of-file address the HDF5 superblock records (plus its base address): a file cut short
 * is caught here, where jsfive would only fail on the first missing object, or read past the
 * end as if a group were absent. Superblock layouts: HDF5 file format spec, section II.A.
 */
function hdf5DeclaredLength(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = bytes[8];
  const sizeOfOffsets = version <= 1 ? bytes[13] : bytes[9];
  if (sizeOfOffsets !== 8) return undefined;
  const baseAt = version === 0 ? 24 : version === 1 ? 28 : 12;
  if (bytes.length < baseAt + 24) return undefined;
  const read = (at: number) => Number(view.getBigUint64(at, true));
  const base = read(baseAt);
  const eof = read(baseAt + 16); // after the base and the free-space (v0/1) or extension (v2/3) address
  return base + eof;
}

function safeAttrs(filePath: string, group: hdf5.Group): Record<string, unknown> {
  try {
    return group.attrs;
  } catch (error) {
    throw new InputError(filePath, `is a corrupted or truncated HDF5 file: its attributes cannot be read (${firstLine(error)})`);
  }
}

/** jsfive throws for a path that is not there; absent is a normal answer here. */
function get(h5: hdf5.Group, path: string): unknown {
  try {
    return h5.get(path);
  } catch {
    return undefined;
  }
}

function asGroup(node: unknown): hdf5.Group | undefined {
  return node instanceof hdf5.Group ? node : undefined;
}

function readDataset(filePath: string, h5: hdf5.File, path: string): StoredWeight {
  let node: unknown;
  let shape: number[];
  let values: ArrayLike<number>;
  try {
    node = get(h5, path);
    if (!(node instanceof hdf5.Dataset)) throw new Error('not a dataset');
    shape = [...node.shape];
    values = node.value;
  } catch (error) {
    throw new InputError(filePath, `weight ${quoteName(path)} cannot be read: the file is corrupted or truncated (${firstLine(error)})`);
  }
  const expected = shape.reduce((a, b) => a * b, 1);
  if (values.length !== expected) throw new InputError(filePath, `weight ${quoteName(path)} has ${values.length} values but its shape ${formatShape(shape)} needs ${expected}`);
  return { where: path, shape, values: Float32Array.from(values) };
}

/** Strings keep HDF5's NUL padding in jsfive (FACTS.md); long attributes are split into `name0`, `name1`, …. */
function attrString(attrs: Record<string, unknown>, name: string): string | undefined {
  const whole = attrs[name];
  if (whole !== undefined) return textOf(whole);
  if (attrs[`${name}0`] === undefined) return undefined;
  let text = '';
  for (let i = 0; attrs[`${name}${i}`] !== undefined; i++) text += textOf(attrs[`${name}${i}`]);
  return text;
}

function attrStrings(attrs: Record<string, unknown>, name: string): string[] | undefined {
  const chunks: unknown[] = [];
  if (attrs[name] !== undefined) chunks.push(attrs[name]);
  else for (let i = 0; attrs[`${name}${i}`] !== undefined; i++) chunks.push(attrs[`${name}${i}`]);
  if (chunks.length === 0) return undefined;
  return chunks.flatMap((chunk) => (Array.isArray(chunk) ? chunk.map(textOf) : typeof chunk === 'string' ? [textOf(chunk)] : []));
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\0+$/, '');
  if (value instanceof Uint8Array) return new TextDecoder().decode(value).replace(/\0+$/, '');
  return String(value);
}

// ──── weights into the TF.js model ────

export interface AssignOptions {
  /**
   * Verification runs of a fix: the edited config may add layers (a BatchNormalization) the
   * file has no weights for; those keep their initial values, everything else still loads.
   */
  lenient?: boolean;
}

/**
 * Puts the file's weights into every layer of the built model (nested models included), checked
 * by count and shape first so a file that is not this model's gets a message naming the layer.
 * Returns warnings (non-finite values).
 */
export function assignKerasWeights(filePath: string, model: tf.LayersModel, weights: KerasWeights, options: AssignOptions = {}): string[] {
  const used = new Set<string>();
  const assignments: Array<{ layer: tf.layers.Layer; values: tf.Tensor[] }> = [];
  const warnings: string[] = [];
  try {
    for (const { layer, path } of weightedLayers(model, '')) {
      const stored = weights.get(path);
      if (!stored) {
        if (options.lenient) continue;
        throw new InputError(
          filePath,
          `the weights do not match the model config: layer ${quoteName(path)} (${layer.getClassName()}) needs ${describeWeights(layer)}, which the file's weights lack`,
          layer.name,
        );
      }
      const ordered = orderFor(filePath, layer, path, stored, options);
      if (!ordered) continue;
      used.add(path);
      assignments.push({ layer, values: ordered.map((w, i) => tf.tensor(w.values, w.shape, layer.weights[i].dtype as tf.DataType)) });
      for (const w of ordered) {
        const bad = w.values.reduce((n, v) => n + (Number.isFinite(v) ? 0 : 1), 0);
        if (bad > 0) warnings.push(`weight ${quoteName(w.where)} of layer ${quoteName(path)} has ${bad} non-finite value(s) of ${w.values.length}: training will produce non-finite results`);
      }
    }
    if (!options.lenient) {
      const extra = [...weights.keys()].find((path) => !used.has(path));
      if (extra) throw new InputError(filePath, `the weights do not match the model config: the file has weights for ${quoteName(extra)}, which is no weighted layer of the model`);
    }
    for (const { layer, values } of assignments) layer.setWeights(values);
    return warnings;
  } finally {
    for (const { values } of assignments) tf.dispose(values);
  }
}

function orderFor(filePath: string, layer: tf.layers.Layer, path: string, stored: StoredWeight[], options: AssignOptions): StoredWeight[] | undefined {
  const own = layer.weights;
  const fail = (problem: string): undefined => {
    if (options.lenient) return undefined;
    throw new InputError(filePath, `the weights do not match the model config: ${problem}`, layer.name);
  };
  if (stored.length !== own.length) {
    return fail(`layer ${quoteName(path)} (${layer.getClassName()}) has ${stored.length} weight(s) in the file but needs ${own.length}: ${describeWeights(layer)}`);
  }
  // Legacy .h5 names each weight; match by name where every one does, else by Keras order.
  const byName = stored.every((w) => w.name !== undefined)
    ? own.map((w) => stored.find((s) => s.name === shortWeightName(w.originalName)))
    : undefined;
  const ordered = byName && byName.every((w) => w !== undefined) ? (byName as StoredWeight[]) : stored;
  for (let i = 0; i < own.length; i++) {
    const expected = own[i].shape as number[];
    if (!tf.util.arraysEqual(expected, ordered[i].shape)) {
      return fail(`weight ${shortWeightName(own[i].originalName)} of layer ${quoteName(path)} is ${formatShape(ordered[i].shape)} in the file (${ordered[i].where}) but the layer needs ${formatShape(expected)}`);
    }
  }
  return ordered;
}

/** Every layer with weights, with its path (`block/conv2d_3` inside nested model `block`). */
function* weightedLayers(model: tf.LayersModel, prefix: string): Generator<{ layer: tf.layers.Layer; path: string }> {
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) {
      yield* weightedLayers(layer, `${prefix}${layer.name}/`);
      continue;
    }
    if (layer.weights.length > 0) yield { layer, path: `${prefix}${layer.name}` };
  }
}

function shortWeightName(name: string): string {
  return (name.split('/').pop() ?? name).replace(/:\d+$/, '');
}

function describeWeights(layer: tf.layers.Layer): string {
  return layer.weights.map((w) => `${shortWeightName(w.originalName)} ${formatShape(w.shape)}`).join(', ');
}

// ──── small helpers ────

function configLayers(model: ConfigObject): Array<ConfigObject & { name?: unknown }> {
  const config = model.config;
  const layers = Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers;
  return Array.isArray(layers) ? (layers as Array<ConfigObject & { name?: unknown }>) : [];
}

function layerNameOf(layer: ConfigObject & { name?: unknown }): string {
  const inner = Array.isArray(layer.config) ? undefined : (layer.config as { name?: unknown } | undefined)?.name;
  const name = inner ?? layer.name;
  return typeof name === 'string' ? name : '';
}

function parseJson(filePath: string, text: string, what: string): unknown {
  try {
    return JSON.parse(text.replace(/\0+$/, ''));
  } catch (error) {
    throw new InputError(filePath, `${what} is not valid JSON (${firstLine(error)})`);
  }
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0].slice(0, 200);
}
