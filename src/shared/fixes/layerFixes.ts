import { getNodeValue, type Node } from 'jsonc-parser';
import type { Fix } from '../findings';
import type { FixContext } from '../diagnosis';
import { child, ModelTree } from './modelTree';
import {
  activationConfig,
  batchNormalizationConfig,
  initializer,
  layerEntry,
  leakyReluConfig,
  SCHEME_CLASS_NAMES,
  schemeFor,
  uniqueName,
  zerosInitializer,
} from './serialize';
import { EditBuilder, inferStyle } from './textEdits';

const KERNEL_LAYERS = new Set(['Conv1D', 'Conv2D', 'Conv3D', 'Dense', 'SeparableConv2D', 'DepthwiseConv2D', 'Conv2DTranspose']);
const SATURATING = new Set(['sigmoid', 'tanh', 'hard_sigmoid', 'hardSigmoid', 'softsign']);
const RELU_LIKE = new Set(['relu', 'relu6']);

/** What every layer planner shares: the parsed file, an edit builder, and the model's layers by role. */
export class LayerPlan {
  readonly tree: ModelTree;
  readonly edits: EditBuilder;
  readonly names: Set<string>;
  /** Layers with a kernel, except the last one (the classifier, whose softmax and scale stay). */
  readonly hidden: Node[];
  readonly output: Node | undefined;

  constructor(readonly ctx: FixContext) {
    this.tree = new ModelTree(ctx.text, ctx.format);
    this.edits = new EditBuilder(ctx.text, inferStyle(ctx.text));
    this.names = this.tree.names();
    const kernels = this.tree.layers.filter((l) => KERNEL_LAYERS.has(this.tree.className(l)));
    this.output = kernels[kernels.length - 1];
    this.hidden = this.tree.layers.filter((l) => l !== this.output && (KERNEL_LAYERS.has(this.tree.className(l)) || this.tree.className(l) === 'Activation'));
  }

  /** A TF.js file with weight shards: TF.js loads shards strictly, so a new weighted layer or a new initializer cannot take effect. */
  get weightsFixed(): boolean {
    return this.ctx.format === 'tfjs-layers' && child(this.tree.root, 'weightsManifest') !== undefined;
  }

  /** Initial weights the run does not take from the initializers: TF.js shards, or trained weights from a Keras file. */
  get initializersFixed(): boolean {
    return this.weightsFixed || this.ctx.trainedWeights === true;
  }

  fix(code: Fix['code'], title: string): Fix | undefined {
    return this.edits.edits.length > 0 ? { code, title, edits: this.edits.edits } : undefined;
  }

  dtype(layer: Node): unknown {
    const dtype = child(this.tree.layerConfig(layer), 'dtype');
    return dtype ? getNodeValue(dtype) : 'float32';
  }

  /** The activation that follows a kernel layer: inline, or the Activation/ReLU layer right after it. */
  effectiveActivation(layer: Node): string | undefined {
    const inline = this.tree.activation(layer);
    if (inline && inline !== 'linear') return inline;
    let next = this.tree.next(layer);
    if (next && this.tree.className(next) === 'BatchNormalization') next = this.tree.next(next);
    if (!next) return inline;
    const className = this.tree.className(next);
    if (className === 'Activation') return this.tree.activation(next);
    if (className === 'ReLU') return 'relu';
    if (className === 'LeakyReLU') return 'LeakyReLU';
    return inline;
  }

  setActivation(layer: Node, activation: string): void {
    const node = child(this.tree.layerConfig(layer), 'activation');
    if (node) this.edits.replaceNode(node, activation);
  }

  /** Kernel initializer for the activation (and a zero bias when the bias was set to something else). */
  setInitializerFor(layer: Node, activation: string | undefined): void {
    const config = this.tree.layerConfig(layer);
    const kernelInit = child(config, 'kernel_initializer') ?? child(config, 'kernelInitializer');
    const scheme = schemeFor(activation);
    if (kernelInit && !isInitializer(kernelInit, SCHEME_CLASS_NAMES[scheme])) this.edits.replaceNode(kernelInit, initializer(scheme, this.ctx.format));
    const biasInit = child(config, 'bias_initializer') ?? child(config, 'biasInitializer');
    if (biasInit && !isInitializer(biasInit, ['Zeros', 'zeros'])) this.edits.replaceNode(biasInit, zerosInitializer(this.ctx.format));
  }

  /**
   * Inserts new layers right after `layer` (a chain, in order). In a Functional file each new
   * layer gets `name` and `inbound_nodes`, and everything that read `layer` now reads the last
   * new one.
   */
  insertAfter(layer: Node, entries: Array<{ className: string; config: Record<string, unknown> }>): void {
    const source = this.tree.layerName(layer)!;
    const shape = this.outputShape(layer);
    const buildConfig = this.ctx.format === 'keras3' && shape ? { build_config: { input_shape: shape } } : {};
    let previous = source;
    const values = entries.map(({ className, config }) => {
      const name = String(config.name);
      const wiring = this.tree.functional ? { name, inbound_nodes: this.inboundNodes(previous, shape) } : {};
      previous = name;
      return layerEntry(className, config, this.ctx.format, { ...buildConfig, ...wiring });
    });
    this.edits.insertAfterElement(this.tree.layerList, layer, values);
    if (this.tree.functional) {
      for (const reference of this.tree.references(source)) this.edits.replaceNode(reference, previous);
    }
  }

  newName(base: string): string {
    return uniqueName(base, this.names);
  }

  private inboundNodes(source: string, shape: unknown[] | undefined): unknown[] {
    if (this.ctx.format !== 'keras3') return [[[source, 0, 0, {}]]];
    return [{ args: [{ class_name: '__keras_tensor__', config: { shape: shape ?? null, dtype: 'float32', keras_history: [source, 0, 0] } }], kwargs: {} }];
  }

  /** `layer`'s output shape with the batch dimension, from the engine, or as the file itself records it downstream. */
  private outputShape(layer: Node): unknown[] | undefined {
    const name = this.tree.layerName(layer)!;
    const built = this.ctx.layers.find((l) => l.name === name)?.outputShape;
    if (built) return [null, ...built];
    if (this.ctx.format !== 'keras3') return undefined;
    if (this.tree.functional) return this.tree.keras3TensorShape(name);
    const next = this.tree.next(layer);
    const recorded = child(child(next, 'build_config'), 'input_shape');
    return recorded ? (getNodeValue(recorded) as unknown[]) : undefined;
  }
}

function isInitializer(node: Node, classNames: string[]): boolean {
  const name = node.type === 'string' ? node.value : child(node, 'class_name')?.value;
  return classNames.includes(String(name));
}

// ──── planners ────

/** Saturating hidden activations → ReLU, with He initialization for the layers switched. */
export function planUseRelu(ctx: FixContext): Fix | undefined {
  const plan = new LayerPlan(ctx);
  let switched = 0;
  for (const layer of plan.hidden) {
    const activation = plan.tree.activation(layer);
    if (!activation || !SATURATING.has(activation)) continue;
    plan.setActivation(layer, 'relu');
    if (!plan.initializersFixed) plan.setInitializerFor(layer, 'relu');
    switched++;
  }
  return plan.fix('use-relu', `Use ReLU instead of sigmoid/tanh in ${switched} hidden layer${switched === 1 ? '' : 's'}${plan.initializersFixed ? '' : ' (with He initialization)'}`);
}

/**
 * ReLU (or saturating) hidden activations → LeakyReLU layers. TF.js has no "leaky_relu"
 * activation string, so the inline activation becomes linear and a LeakyReLU layer follows.
 */
export function planUseLeakyRelu(ctx: FixContext, from: 'relu' | 'saturating'): Fix | undefined {
  const plan = new LayerPlan(ctx);
  const wanted = from === 'relu' ? RELU_LIKE : SATURATING;
  let switched = 0;
  for (const layer of plan.hidden) {
    const activation = plan.tree.activation(layer);
    if (!activation || !wanted.has(activation)) continue;
    if (plan.tree.className(layer) === 'Activation') {
      // Same name, so whatever reads this layer keeps reading it.
      plan.edits.replaceNode(layer, layerEntry('LeakyReLU', leakyReluConfig(plan.tree.layerName(layer)!, plan.dtype(layer), ctx.format), ctx.format, functionalWiring(layer)));
    } else {
      plan.setActivation(layer, 'linear');
      plan.insertAfter(layer, [{ className: 'LeakyReLU', config: leakyReluConfig(plan.newName('leaky_re_lu'), plan.dtype(layer), ctx.format) }]);
    }
    switched++;
  }
  return plan.fix('use-leaky-relu', `Use LeakyReLU (slope 0.1) in ${switched} hidden layer${switched === 1 ? '' : 's'}`);
}

/** The graph fields of a layer entry (Functional `name`/`inbound_nodes`, Keras 3 `build_config`), for a replacement to keep. */
function functionalWiring(layer: Node): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const key of ['name', 'inbound_nodes', 'build_config']) {
    const node = child(layer, key);
    if (node) extra[key] = getNodeValue(node);
  }
  return extra;
}

/**
 * BatchNormalization after every hidden conv/dense layer that has none, between the layer and
 * its activation (the layer's activation moves to an Activation layer after the BN).
 */
export function planAddBatchNormalization(ctx: FixContext): Fix | undefined {
  const plan = new LayerPlan(ctx);
  if (plan.weightsFixed) return undefined;
  let added = 0;
  for (const layer of plan.hidden) {
    if (!KERNEL_LAYERS.has(plan.tree.className(layer))) continue;
    const next = plan.tree.next(layer);
    if (next && plan.tree.className(next) === 'BatchNormalization') continue;
    const activation = plan.tree.activation(layer);
    const dtype = plan.dtype(layer);
    const chain = [{ className: 'BatchNormalization', config: batchNormalizationConfig(plan.newName('batch_normalization'), dtype) }];
    if (activation && activation !== 'linear') {
      plan.setActivation(layer, 'linear');
      chain.push({ className: 'Activation', config: activationConfig(plan.newName('activation'), dtype, activation) });
    }
    plan.insertAfter(layer, chain);
    added++;
  }
  return plan.fix('add-batch-normalization', `Add BatchNormalization after ${added} conv/dense layer${added === 1 ? '' : 's'}`);
}

/** He for ReLU, Glorot for tanh/linear/softmax, LeCun for sigmoid/SELU, on every kernel layer that differs; zero biases. */
export function planChangeInitializer(ctx: FixContext): Fix | undefined {
  const plan = new LayerPlan(ctx);
  if (plan.initializersFixed) return undefined;
  const layers = [...plan.hidden, ...(plan.output ? [plan.output] : [])].filter((l) => KERNEL_LAYERS.has(plan.tree.className(l)));
  for (const layer of layers) plan.setInitializerFor(layer, plan.effectiveActivation(layer));
  return plan.fix('change-initializer', 'Use the initializer each activation needs (He for ReLU, Glorot for tanh, LeCun for sigmoid) and zero biases');
}
