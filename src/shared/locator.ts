import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { OPTIMIZERS } from './codes';
import type { FileTrainingConfig, LayerInfo, ModelFormat } from './model';
import type { Position, Range } from './textRange';

/**
 * Finds where a model file's layers and training settings are in its text, so markers and
 * fix edits land exactly. Pure: no TF.js, no file system; the host runs it on the editor's
 * text and the engine on the file's.
 *
 * Positions are zero-based line/character in UTF-16 code units (VS Code's), which is what
 * JavaScript string offsets already count.
 */

/** The text is not JSON, or is JSON but not a model file of a known format. */
export class ModelTextError extends Error {
  override name = 'ModelTextError';
  constructor(
    /** One line, no file name (the caller adds it). */
    readonly problem: string,
    /** Where the JSON is malformed, when it is. */
    readonly position?: Position,
  ) {
    super(problem);
  }
}

export interface LocatedModel {
  format: ModelFormat;
  /** Top-level layers in file order (a nested model is one of them; its own layers are in `nestedLayers`). */
  layers: LayerInfo[];
  /**
   * The layers of nested models (a Sequential block inside a Functional model), at any depth, in
   * file order, each with `parent`: the name of the model it is in. Markers about an inner layer
   * (a layer that cannot be built, weights that do not fit it) land on its own config.
   */
  nestedLayers: LayerInfo[];
}

const MODEL_CLASS_NAMES = new Set(['Sequential', 'Functional', 'Model']);

/** Throws `ModelTextError` for malformed JSON (with its line and column) and for JSON that is no model. */
export function locateModel(text: string): LocatedModel {
  const { root, lines } = parsed(text);
  const { format, model } = findModelNode(root);
  const layerNodes = layerArray(model);
  if (!layerNodes) throw new ModelTextError(`the ${describeFormat(format)} model config has no "layers" list`);
  const nestedLayers: LayerInfo[] = [];
  const collect = (nodes: Node[], parent: string | undefined): LayerInfo[] =>
    nodes.map((node, index) => {
      const info = locateLayer(node, index, lines);
      if (parent !== undefined) nestedLayers.push({ ...info, parent });
      if (MODEL_CLASS_NAMES.has(info.className)) collect(layerArray(node) ?? [], info.name);
      return info;
    });
  return { format, layers: collect(layerNodes, undefined), nestedLayers };
}

/**
 * Where the training settings are, for the fixes that change them. Every field is optional: a
 * Keras file without `training_config` has none of them, and then `insertAfter` says where a
 * new `"training_config"` property can go.
 *
 * Recognised places: Keras 2 `training_config` (beside `model_config` in saved files, or at
 * the top level), Keras 3 `compile_config` (beside `config`), TF.js `trainingConfig` (top
 * level) or `modelTopology.training_config` (converted Keras files).
 */
export interface TrainingConfigLocation {
  /** The training config object itself. */
  range?: Range;
  /** Its property name as written: `training_config`, `trainingConfig` or `compile_config`. */
  key?: 'training_config' | 'trainingConfig' | 'compile_config';
  /** The optimizer value (`optimizer_config`, or `optimizer` in Keras 3 `compile_config`). */
  optimizerRange?: Range;
  /** The optimizer's `class_name` string value (to switch optimizers). */
  optimizerClassNameRange?: Range;
  /** The optimizer's own `config` object: where `clipnorm` / `clipvalue` go when missing. */
  optimizerConfigRange?: Range;
  /** The learning rate number (or schedule object) value. */
  learningRateRange?: Range;
  /** The learning rate's key as written, so an edit keeps the file's spelling. */
  learningRateKey?: 'learning_rate' | 'learningRate' | 'lr';
  lossRange?: Range;
  clipNormRange?: Range;
  clipValueRange?: Range;
  /** The values read, as the engine uses them. */
  config: FileTrainingConfig;
  /** End of the last property of the object a new training config belongs in (when `range` is absent). */
  insertAfter?: Position;
}

/** Throws `ModelTextError` like `locateModel`. */
export function locateTrainingConfig(text: string): TrainingConfigLocation {
  const { root, lines } = parsed(text);
  const { format, container } = findModelNode(root);
  const found = findTrainingConfigNode(root, container, format);
  if (!found) {
    const lastProperty = container.children?.[container.children.length - 1];
    return { config: {}, insertAfter: lastProperty ? toPosition(lastProperty.offset + lastProperty.length, lines) : undefined };
  }
  const { node, key } = found;
  const location: TrainingConfigLocation = { key, range: nodeRange(node, lines), config: {} };

  const optimizerNode = child(node, 'optimizer_config') ?? child(node, 'optimizer');
  if (optimizerNode) {
    location.optimizerRange = nodeRange(optimizerNode, lines);
    const optimizer = readOptimizer(optimizerNode, lines);
    Object.assign(location, optimizer.ranges);
    Object.assign(location.config, optimizer.config);
  }
  const lossNode = child(node, 'loss');
  if (lossNode) {
    location.lossRange = nodeRange(lossNode, lines);
    const loss = lossName(getNodeValue(lossNode));
    if (loss) location.config.loss = loss;
  }
  return location;
}

function readOptimizer(
  optimizerNode: Node,
  lines: number[],
): { config: FileTrainingConfig; ranges: Partial<TrainingConfigLocation> } {
  const config: FileTrainingConfig = {};
  const ranges: Partial<TrainingConfigLocation> = {};
  if (optimizerNode.type === 'string') {
    config.optimizer = optimizerName(String(optimizerNode.value), 0);
    return { config, ranges };
  }
  const classNameNode = child(optimizerNode, 'class_name');
  const settingsNode = child(optimizerNode, 'config');
  if (classNameNode) ranges.optimizerClassNameRange = nodeRange(classNameNode, lines);
  if (settingsNode?.type !== 'object') {
    if (classNameNode) config.optimizer = optimizerName(String(classNameNode.value), 0);
    return { config, ranges };
  }
  ranges.optimizerConfigRange = nodeRange(settingsNode, lines);
  const momentum = child(settingsNode, 'momentum')?.value;
  if (classNameNode) config.optimizer = optimizerName(String(classNameNode.value), typeof momentum === 'number' ? momentum : 0);

  for (const key of ['learning_rate', 'learningRate', 'lr'] as const) {
    const rateNode = child(settingsNode, key);
    if (!rateNode) continue;
    ranges.learningRateRange = nodeRange(rateNode, lines);
    ranges.learningRateKey = key;
    const rate = learningRateValue(getNodeValue(rateNode));
    if (rate !== undefined) config.learningRate = rate;
    break;
  }
  const clipNormNode = child(settingsNode, 'clipnorm') ?? child(settingsNode, 'clipNorm');
  if (clipNormNode) {
    ranges.clipNormRange = nodeRange(clipNormNode, lines);
    if (typeof clipNormNode.value === 'number') config.clipNorm = clipNormNode.value;
  }
  const clipValueNode = child(settingsNode, 'clipvalue') ?? child(settingsNode, 'clipValue');
  if (clipValueNode) {
    ranges.clipValueRange = nodeRange(clipValueNode, lines);
    if (typeof clipValueNode.value === 'number') config.clipValue = clipValueNode.value;
  }
  return { config, ranges };
}

/** Keras class names (and Keras 3 string shorthands) to the engine's optimizer names. Keras SGD with momentum is what the engine calls 'momentum'; unknown names pass through. */
function optimizerName(className: string, momentum: number): string {
  const lower = className.toLowerCase();
  if (!(OPTIMIZERS as readonly string[]).includes(lower)) return className;
  return lower === 'sgd' && momentum > 0 ? 'momentum' : lower;
}

/** A number, or a Keras learning-rate schedule object: its initial rate is what step 0 uses. */
function learningRateValue(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  const initial = (value as { config?: { initial_learning_rate?: unknown } } | null)?.config?.initial_learning_rate;
  return typeof initial === 'number' ? initial : undefined;
}

/**
 * Keras writes a loss as a string, or (Keras 3) as a serialized object whose `config.name` is
 * the same snake_case name; per-output losses are left to the engine's defaults.
 */
function lossName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const serialized = value as { class_name?: unknown; config?: { name?: unknown } } | null;
  if (typeof serialized?.config?.name === 'string') return serialized.config.name;
  return typeof serialized?.class_name === 'string' ? serialized.class_name : undefined;
}

function findTrainingConfigNode(
  root: Node,
  container: Node,
  format: ModelFormat,
): { node: Node; key: NonNullable<TrainingConfigLocation['key']> } | undefined {
  const candidates: Array<[Node | undefined, NonNullable<TrainingConfigLocation['key']>]> =
    format === 'tfjs-layers'
      ? [
          [child(root, 'trainingConfig'), 'trainingConfig'],
          [findNodeAtLocation(root, ['modelTopology', 'training_config']), 'training_config'],
        ]
      : [
          [child(container, 'training_config'), 'training_config'],
          [child(container, 'compile_config'), 'compile_config'],
        ];
  for (const [node, key] of candidates) {
    if (node?.type === 'object') return { node, key };
  }
  return undefined;
}

// ──── format detection ────

interface ModelNodes {
  format: ModelFormat;
  /** The `{class_name, config}` object of the model. */
  model: Node;
  /** The object that holds the model and its training config side by side. */
  container: Node;
}

function findModelNode(root: Node): ModelNodes {
  if (root.type !== 'object') throw new ModelTextError(`not a model file: the top level is ${article(root.type)}, not an object`);

  const topology = child(root, 'modelTopology');
  if (child(root, 'format')?.value === 'layers-model' || topology) {
    if (topology?.type !== 'object') throw new ModelTextError('TF.js model file without a "modelTopology" object');
    const wrapped = child(topology, 'model_config');
    const model = wrapped?.type === 'object' ? wrapped : topology;
    requireModelObject(model, 'the TF.js "modelTopology"');
    return { format: 'tfjs-layers', model, container: root };
  }

  const wrapped = child(root, 'model_config');
  const model = wrapped?.type === 'object' ? wrapped : root;
  if (!isModelObject(model)) {
    throw new ModelTextError(
      'not a model file: expected a Keras model ("class_name": "Sequential" | "Functional" | "Model" with a "config") or a TF.js "layers-model"',
    );
  }
  return { format: isKeras3(model) ? 'keras3' : 'keras2', model, container: root };
}

function isModelObject(node: Node): boolean {
  const className = child(node, 'class_name')?.value;
  return typeof className === 'string' && MODEL_CLASS_NAMES.has(className) && child(node, 'config') !== undefined;
}

function requireModelObject(node: Node, where: string): void {
  if (!isModelObject(node)) {
    throw new ModelTextError(`${where} is not a Keras model config ("class_name": "Sequential" | "Functional" | "Model" with a "config")`);
  }
}

/** Keras 3 marks every serialized object with `module` / `registered_name`, and built layers with `build_config`. */
function isKeras3(model: Node): boolean {
  if (child(model, 'module') || child(model, 'registered_name') || child(model, 'build_config')) return true;
  return (layerArray(model) ?? []).some((layer) => child(layer, 'module') || child(layer, 'registered_name') || child(layer, 'build_config'));
}

/** Sequential configs are `{name, layers}` or, in older Keras, the bare list of layers. */
function layerArray(model: Node): Node[] | undefined {
  const config = child(model, 'config');
  const list = config?.type === 'array' ? config : config ? child(config, 'layers') : undefined;
  if (list?.type !== 'array') return undefined;
  return (list.children ?? []).filter((node) => node.type === 'object');
}

// ──── one layer ────

function locateLayer(layer: Node, index: number, lines: number[]): LayerInfo {
  const className = child(layer, 'class_name')?.value;
  const config = child(layer, 'config');
  // Keras 2 Functional layers repeat the name beside `config`; the one inside is what Sequential has too.
  const nameNode = (config && child(config, 'name')) ?? child(layer, 'name');
  const info: LayerInfo = {
    name: typeof nameNode?.value === 'string' ? nameNode.value : `layer_${index}`,
    className: typeof className === 'string' ? className : 'Unknown',
    range: nodeRange(layer, lines),
  };
  if (nameNode) info.nameRange = nodeRange(nameNode, lines);
  if (config?.type !== 'object') return info;

  const activationNode = child(config, 'activation');
  if (activationNode) {
    info.activationRange = nodeRange(activationNode, lines);
    const activation = serializedName(activationNode);
    if (activation) info.activation = activation;
  }
  const initializerNode = child(config, 'kernel_initializer') ?? child(config, 'kernelInitializer');
  if (initializerNode) {
    info.initializerRange = nodeRange(initializerNode, lines);
    const initializer = serializedName(initializerNode);
    if (initializer) info.kernelInitializer = initializer;
  }
  return info;
}

/** A Keras identifier is a string (`"relu"`, `"he_normal"`) or a `{class_name, config}` object. */
function serializedName(node: Node): string | undefined {
  if (node.type === 'string') return node.value as string;
  const className = child(node, 'class_name')?.value;
  return typeof className === 'string' ? className : undefined;
}

// ──── JSON helpers ────

/**
 * Keras and TF.js model configs nest about 15 levels (a nested model's layer's initializer's
 * config); jsonc-parser, and every walk of the tree after it, recurse once per level and run
 * out of stack near 5,000. Far above any model file, far below the stack.
 */
export const MAX_JSON_DEPTH = 1000;

/** Where the text first nests deeper than `limit` arrays and objects, if it does (strings skipped, so no parse is needed). */
function tooDeepAt(text: string, limit: number): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 34 /* " */) {
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 92 /* \ */) i++;
        else if (c === 34) break;
      }
    } else if (code === 123 /* { */ || code === 91 /* [ */) {
      if (++depth > limit) return i;
    } else if (code === 125 /* } */ || code === 93 /* ] */) {
      depth--;
    }
  }
  return undefined;
}

/**
 * The last text parsed. One run parses the same text several times (the model, its training
 * config, each fix planner); on a multi-megabyte file each parse is half a second. Nothing
 * mutates the tree, so sharing it is safe.
 */
let lastParsed: { text: string; root: Node; lines: number[] } | undefined;

/** The tree of `text` if it is the text last located (no parse), for planners that read the same file. */
export function lastParsedTree(text: string): Node | undefined {
  return lastParsed?.text === text ? lastParsed.root : undefined;
}

function parsed(text: string): { root: Node; lines: number[] } {
  if (lastParsed?.text !== text) lastParsed = { text, root: parseStrict(text), lines: lineStarts(text) };
  return lastParsed;
}

function parseStrict(text: string): Node {
  const deep = tooDeepAt(text, MAX_JSON_DEPTH);
  if (deep !== undefined) {
    const at = toPosition(deep, lineStarts(text));
    throw new ModelTextError(`the JSON nests more than ${MAX_JSON_DEPTH} levels deep at line ${at.line + 1}, column ${at.character + 1}; no model config nests that deep`, at);
  }
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: true });
  if (errors.length > 0) {
    const first = errors[0];
    const at = toPosition(first.offset, lineStarts(text));
    throw new ModelTextError(
      `malformed JSON at line ${at.line + 1}, column ${at.character + 1}: ${describeParseError(printParseErrorCode(first.error))}`,
      at,
    );
  }
  if (!root) throw new ModelTextError('the file is empty');
  return root;
}

function describeParseError(code: string): string {
  // "CommaExpected" → "comma expected"
  return code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

function child(node: Node | undefined, key: string): Node | undefined {
  if (node?.type !== 'object') return undefined;
  return findNodeAtLocation(node, [key]);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describeFormat(format: ModelFormat): string {
  return { keras2: 'Keras 2', keras3: 'Keras 3', 'tfjs-layers': 'TF.js', pytorch: 'PyTorch', keras: 'Keras (.keras)', 'keras-h5': 'Keras (.h5)', 'keras-python': 'Keras (.py)' }[format];
}

/** Offsets at which each line starts (after \n, \r\n or a lone \r, as VS Code counts lines). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 13 /* \r */) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    } else if (code === 10 /* \n */) {
      starts.push(i + 1);
    }
  }
  return starts;
}

function toPosition(offset: number, starts: number[]): Position {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (starts[mid] <= offset) low = mid;
    else high = mid - 1;
  }
  return { line: low, character: offset - starts[low] };
}

function nodeRange(node: Node, lines: number[]): Range {
  return { start: toPosition(node.offset, lines), end: toPosition(node.offset + node.length, lines) };
}
