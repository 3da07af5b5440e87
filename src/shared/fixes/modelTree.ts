import { findNodeAtLocation, getNodeValue, parseTree, type Node } from 'jsonc-parser';
import { lastParsedTree } from '../locator';
import type { ModelFormat } from '../model';

/**
 * The parts of a model file's JSON tree the fix planners edit: the layer list, each layer's
 * object and config, and the Functional graph's wiring. Finds them the way the locator does
 * (src/shared/locator.ts), but keeps the nodes, which edits need.
 */
export class ModelTree {
  readonly root: Node;
  readonly model: Node;
  readonly layerList: Node;
  readonly layers: Node[];
  readonly functional: boolean;

  constructor(
    text: string,
    readonly format: ModelFormat,
  ) {
    // The run located this very text a moment ago: its tree saves a parse per planner (seconds on a multi-megabyte file).
    const root = lastParsedTree(text) ?? parseTree(text, [], { disallowComments: true, allowTrailingComma: false });
    if (!root) throw new Error('empty model file');
    this.root = root;
    const topology = format === 'tfjs-layers' ? child(root, 'modelTopology') : root;
    const wrapped = child(topology, 'model_config');
    this.model = (wrapped?.type === 'object' ? wrapped : topology)!;
    const config = child(this.model, 'config');
    const list = config?.type === 'array' ? config : child(config, 'layers');
    if (list?.type !== 'array') throw new Error('model config has no layer list');
    this.layerList = list;
    this.layers = (list.children ?? []).filter((n) => n.type === 'object');
    this.functional = this.layers.some((layer) => child(layer, 'inbound_nodes') !== undefined);
  }

  layerName(layer: Node): string | undefined {
    const name = child(child(layer, 'config'), 'name')?.value ?? child(layer, 'name')?.value;
    return typeof name === 'string' ? name : undefined;
  }

  layerNode(name: string): Node | undefined {
    return this.layers.find((layer) => this.layerName(layer) === name);
  }

  layerConfig(layer: Node): Node | undefined {
    const config = child(layer, 'config');
    return config?.type === 'object' ? config : undefined;
  }

  className(layer: Node): string {
    return String(child(layer, 'class_name')?.value ?? '');
  }

  /** The activation a layer applies inline (`"activation": "relu"`), or that an Activation layer is. */
  activation(layer: Node): string | undefined {
    const value = child(this.layerConfig(layer), 'activation');
    if (value?.type === 'string') return value.value as string;
    const className = child(value, 'class_name')?.value;
    return typeof className === 'string' ? className : undefined;
  }

  names(): Set<string> {
    return new Set(this.layers.map((l) => this.layerName(l)).filter((n): n is string => n !== undefined));
  }

  /** The next layer in the list (Sequential order; in Functional files, the next listed). */
  next(layer: Node): Node | undefined {
    const index = this.layers.indexOf(layer);
    return index >= 0 ? this.layers[index + 1] : undefined;
  }

  /**
   * Every reference to `name` as a tensor source: the first element of a Keras 2 / TF.js
   * `[name, node, tensor, kwargs]` inbound entry, of a Keras 3 `keras_history`, or of an
   * `output_layers` entry.
   */
  references(name: string): Node[] {
    const found: Node[] = [];
    const visit = (node: Node) => {
      if (node.type === 'array' && node.children?.[0]?.type === 'string' && node.children[0].value === name && node.children[1]?.type === 'number') {
        found.push(node.children[0]);
      }
      for (const c of node.children ?? []) visit(c);
    };
    for (const layer of this.layers) {
      const inbound = child(layer, 'inbound_nodes');
      if (inbound) visit(inbound);
    }
    const outputs = child(child(this.model, 'config'), 'output_layers');
    if (outputs) visit(outputs);
    return found;
  }

  /** A Keras 3 consumer's recorded shape of `name`'s output tensor (`keras_history` beside `shape`). */
  keras3TensorShape(name: string): unknown[] | undefined {
    for (const ref of this.references(name)) {
      const history = ref.parent;
      const historyProperty = history?.parent;
      const tensorConfig = historyProperty?.parent;
      if (historyProperty?.children?.[0]?.value !== 'keras_history' || !tensorConfig) continue;
      const shape = child(tensorConfig, 'shape');
      if (shape) return getNodeValue(shape) as unknown[];
    }
    return undefined;
  }
}

export function child(node: Node | undefined, key: string): Node | undefined {
  if (node?.type !== 'object') return undefined;
  return findNodeAtLocation(node, [key]);
}

/** The innermost node spanning exactly [start, end) (a locator range turned back into a node). */
export function nodeSpanning(root: Node, start: number, end: number): Node | undefined {
  let node: Node | undefined = root;
  while (node) {
    if (node.offset === start && node.offset + node.length === end && node.type !== 'property') return node;
    node = node.children?.find((c) => c.offset <= start && c.offset + c.length >= end);
  }
  return undefined;
}
