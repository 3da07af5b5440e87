import * as tf from '@tensorflow/tfjs';
import type { OptimizerName } from '../../shared/codes';
import { DEFAULT_RUN_OPTIONS } from '../../shared/runOptions';
import { syntheticExampleCount } from '../data/synthetic';
import { InputError } from '../errors';
import { formatBytes, trainingMemoryLimit, type TrainingMemoryLimit } from '../resources';
import { parseOptimizerName } from '../train/trainingNames';
import type { KerasModelConfig } from './build';

// Shape inference over the (Keras 2 shaped) config, so a model too large to train is refused
// before TF.js allocates its weights: TF.js allocates every variable while building, and a
// 20,000 × 20,000 Dense alone is 1.6 GB. Anything this file cannot follow makes the estimate
// smaller, never larger: an unknown layer passes its input shape through with no weights, and
// a model whose input shape is unknown is not estimated at all.

/** One example's shape, without the batch dimension; `null` for a dimension not known. */
type Shape = Array<number | null>;

interface LayerConfig {
  class_name?: unknown;
  name?: unknown;
  config?: Record<string, unknown>;
  inbound_nodes?: unknown;
  [key: string]: unknown;
}

interface Tally {
  /** Trainable weight elements: each has a gradient and the optimizer's slots. */
  trainable: number;
  /** Weights with no gradient (BatchNormalization's moving mean and variance). */
  frozen: number;
  /** Values per example of every tensor the forward pass keeps for the backward pass (see forwardTensors). */
  activations: number;
  /** Layers whose output shape this file does not infer (their input shape was passed on). */
  unknown: string[];
}

export interface MemoryEstimate {
  batchSize: number;
  optimizer: OptimizerName;
  parameters: number;
  weightBytes: number;
  gradientBytes: number;
  optimizerBytes: number;
  activationBytes: number;
  /** The training set the data loaders would build for this input shape (synthetic data, the largest they make). */
  dataBytes: number;
  totalBytes: number;
  inputShape: number[];
  /** Classes, when the output shape is known. */
  numClasses?: number;
  unknownLayers: string[];
}

const BYTES_PER_VALUE = 4;
/** Per trainable weight, the optimizer's slot variables in TF.js (Adam: first and second moments). */
const OPTIMIZER_SLOTS: Record<OptimizerName, number> = { sgd: 0, momentum: 1, adam: 2, rmsprop: 2, adagrad: 1, adadelta: 2, adamax: 2 };
/**
 * Per tensor the forward pass keeps, the backward pass holds its gradient until the step's
 * tidy ends. Measured on the samples, TF.js's peak during one instrumented step is 1.06–1.32×
 * this estimate (test/resources.test.ts prints the figures): kernels' own temporaries.
 */
export const ACTIVATION_FACTOR = 2;

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

/**
 * What training this config at `batchSize` with `optimizer` needs, or undefined when the
 * input shape cannot be read (the build reports those models better than an estimate could).
 */
export function estimateTrainingMemory(config: KerasModelConfig, opts: { batchSize: number; optimizer: OptimizerName }): MemoryEstimate | undefined {
  const tally: Tally = { trainable: 0, frozen: 0, activations: 0, unknown: [] };
  let result: { input: Shape; output: Shape } | undefined;
  try {
    result = modelShapes(config as unknown as LayerConfig, undefined, tally);
  } catch {
    return undefined; // a config this file cannot follow: the build says what is wrong with it
  }
  if (!result || !isKnown(result.input)) return undefined;
  const inputShape = result.input;
  const output = result.output;
  const numClasses = output.length === 1 && typeof output[0] === 'number' ? output[0] : undefined;
  const exampleValues = product(inputShape);
  const weightBytes = (tally.trainable + tally.frozen) * BYTES_PER_VALUE;
  const gradientBytes = tally.trainable * BYTES_PER_VALUE;
  const optimizerBytes = tally.trainable * OPTIMIZER_SLOTS[opts.optimizer] * BYTES_PER_VALUE;
  // The input batch is kept for the backward pass too.
  const activationBytes = (tally.activations + exampleValues) * opts.batchSize * ACTIVATION_FACTOR * BYTES_PER_VALUE;
  const classes = numClasses ?? 2;
  // The examples, plus one prototype per class while they are made.
  const dataBytes = (syntheticExampleCount(exampleValues, classes) + classes) * exampleValues * BYTES_PER_VALUE;
  return {
    batchSize: opts.batchSize,
    optimizer: opts.optimizer,
    parameters: tally.trainable + tally.frozen,
    weightBytes,
    gradientBytes,
    optimizerBytes,
    activationBytes,
    dataBytes,
    totalBytes: weightBytes + gradientBytes + optimizerBytes + activationBytes + dataBytes,
    inputShape,
    numClasses,
    unknownLayers: tally.unknown,
  };
}

export interface MemoryCheckOptions {
  /** The run's batch size (default 32). */
  batchSize?: number;
  /** The run's optimizer, else the file's, else Adam. */
  optimizer?: OptimizerName;
  /** Default: the limit for the active TF.js backend under the engine's budget. */
  memoryLimit?: TrainingMemoryLimit;
}

/**
 * Refuses, with an `InputError` naming the file and giving the estimate, a model that would
 * not fit the limit. Returns the estimate (undefined when there is none: never refused).
 */
export function checkTrainingMemory(filePath: string, config: KerasModelConfig, options: MemoryCheckOptions, fileOptimizer?: string): MemoryEstimate | undefined {
  const opts = {
    batchSize: options.batchSize ?? DEFAULT_RUN_OPTIONS.batchSize,
    optimizer: options.optimizer ?? (fileOptimizer !== undefined ? parseOptimizerName(fileOptimizer) : undefined) ?? DEFAULT_RUN_OPTIONS.optimizer,
    limit: options.memoryLimit ?? trainingMemoryLimit(tf.getBackend()),
  };
  const estimate = estimateTrainingMemory(config, opts);
  // A non-finite total (a config with absurd or negative sizes) is not an estimate: the build judges it.
  if (!estimate || !Number.isFinite(estimate.totalBytes) || estimate.totalBytes <= opts.limit.bytes) return estimate;
  const parts = [
    `weights ${formatBytes(estimate.weightBytes)}`,
    `gradients ${formatBytes(estimate.gradientBytes)}`,
    `optimizer state ${formatBytes(estimate.optimizerBytes)} (${estimate.optimizer})`,
    `activations ${formatBytes(estimate.activationBytes)}`,
    `training data ${formatBytes(estimate.dataBytes)}`,
  ];
  throw new InputError(
    filePath,
    `the model needs about ${formatBytes(estimate.totalBytes)} to train at batch ${estimate.batchSize} (${parts.join(', ')}); ` +
      `the limit is ${formatBytes(opts.limit.bytes)} (${opts.limit.reason}) — ${advice(estimate, opts.limit)}`,
  );
}

function advice(estimate: MemoryEstimate, limit: TrainingMemoryLimit): string {
  const perWeight = estimate.weightBytes + estimate.gradientBytes + estimate.optimizerBytes;
  const biggest = Math.max(perWeight, estimate.activationBytes, estimate.dataBytes);
  const ways: string[] = [];
  if (biggest === perWeight) {
    ways.push(`use fewer units or filters (the model has ${estimate.parameters.toLocaleString('en-US')} weights)`);
    if (estimate.optimizerBytes > 0 && estimate.totalBytes - estimate.optimizerBytes <= limit.bytes) ways.push('train with the sgd optimizer, which keeps no state per weight');
  } else if (biggest === estimate.activationBytes) {
    ways.push(`use a smaller batch size or a smaller input than [${estimate.inputShape.join(', ')}]`);
  } else {
    ways.push(`use a smaller input: one example of shape [${estimate.inputShape.join(', ')}] is ${formatBytes(product(estimate.inputShape) * BYTES_PER_VALUE)}`);
  }
  if (limit.otherBackend && estimate.totalBytes <= limit.otherBackend.bytes) ways.push(`use the ${limit.otherBackend.backend} backend (limit ${formatBytes(limit.otherBackend.bytes)})`);
  if (limit.raisable) ways.push(`raise the limit with ${limit.raisable}`);
  return ways.join(', or ');
}

// ──── models: Sequential, Functional, nested ────

function modelShapes(model: LayerConfig, input: Shape | undefined, tally: Tally): { input: Shape; output: Shape } | undefined {
  const body = model.config as unknown;
  const layers = (Array.isArray(body) ? body : (body as { layers?: unknown } | undefined)?.layers) as LayerConfig[] | undefined;
  if (!Array.isArray(layers)) return undefined;
  const isFunctional = model.class_name !== 'Sequential' && layers.some((layer) => Array.isArray(layer.inbound_nodes));
  return isFunctional ? functionalShapes(model, layers, tally) : sequentialShapes(layers, input, tally);
}

function sequentialShapes(layers: LayerConfig[], given: Shape | undefined, tally: Tally): { input: Shape; output: Shape } | undefined {
  let input = given;
  let shape = given;
  for (const layer of layers) {
    const declared = declaredInputShape(layer);
    if (shape === undefined) {
      if (!declared) return undefined;
      input = shape = declared;
    }
    if (layer.class_name === 'InputLayer') continue;
    shape = layerShape(layer, [shape], tally);
  }
  return input && shape ? { input, output: shape } : undefined;
}

function functionalShapes(model: LayerConfig, layers: LayerConfig[], tally: Tally): { input: Shape; output: Shape } | undefined {
  const outputs = new Map<string, Shape>();
  const byName = new Map(layers.map((layer) => [layerName(layer), layer]));
  let input: Shape | undefined;
  const visiting = new Set<string>();
  const shapeOf = (name: string): Shape => {
    const known = outputs.get(name);
    if (known) return known;
    const layer = byName.get(name);
    if (!layer || visiting.has(name)) throw new Error(`unknown or cyclic layer ${name}`);
    visiting.add(name);
    let shape: Shape;
    if (layer.class_name === 'InputLayer') {
      const declared = declaredInputShape(layer);
      if (!declared) throw new Error(`input ${name} has no shape`);
      input ??= declared;
      shape = declared;
    } else {
      // The first call of the layer; a shared layer's later calls reuse its weights.
      const node = (layer.inbound_nodes as unknown[][])[0] ?? [];
      const inputs = node.map((ref) => shapeOf(String((ref as unknown[])[0])));
      shape = layerShape(layer, inputs, tally);
    }
    outputs.set(name, shape);
    return shape;
  };
  const outputRefs = ((model.config as { output_layers?: unknown[] }).output_layers ?? []) as unknown[][];
  const last = outputRefs.length > 0 ? shapeOf(String(outputRefs[0][0])) : undefined;
  // Layers off the path to the first output still hold weights.
  for (const name of byName.keys()) shapeOf(name);
  return input && last ? { input, output: last } : undefined;
}

function layerName(layer: LayerConfig): string {
  const name = layer.name ?? layer.config?.name;
  return typeof name === 'string' ? name : '';
}

function declaredInputShape(layer: LayerConfig): Shape | undefined {
  const config = layer.config ?? {};
  const batchShape = config.batch_input_shape ?? config.batch_shape;
  if (Array.isArray(batchShape)) return batchShape.slice(1).map(dimension);
  if (Array.isArray(config.input_shape)) return config.input_shape.map(dimension);
  return undefined;
}

function dimension(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

// ──── layers ────

/** The layer's output shape; its weights and kept activations go into `tally`. */
function layerShape(layer: LayerConfig, inputs: Shape[], tally: Tally): Shape {
  const className = String(layer.class_name);
  const config = layer.config ?? {};
  const input = inputs[0] ?? [];
  if (MODEL_CLASSES.has(className)) {
    const nested = modelShapes(layer, input, tally);
    if (nested) return nested.output;
    tally.unknown.push(layerName(layer));
    return input;
  }
  const counted = knownLayer(className, config, inputs, input);
  if (!counted) {
    tally.unknown.push(layerName(layer));
    tally.activations += known(input);
    return input;
  }
  tally.trainable += config.trainable === false ? 0 : counted.trainable ?? 0;
  tally.frozen += (counted.frozen ?? 0) + (config.trainable === false ? counted.trainable ?? 0 : 0);
  tally.activations += known(counted.output) * forwardTensors(className, config, counted.output.length + 1);
  return counted.output;
}

const NORMALISATION_TEMPORARIES = 6;
/** The project's closed-form BatchNormalization (kernels/batchNormTraining.ts) keeps x̂ and the output. */
const CLOSED_FORM_BATCH_NORM_TEMPORARIES = 2;

/**
 * Full-size tensors a layer's forward pass leaves on the tape, per output value: a conv or
 * Dense makes its product, then the bias add, then the activation; a normalisation in
 * training mode through TF.js's own ops makes the centred input, its square, the normalised,
 * scaled and shifted values. `rank` counts the batch axis.
 */
function forwardTensors(className: string, config: Record<string, unknown>, rank: number): number {
  if (className === 'BatchNormalization' && takesClosedForm(config, rank)) return CLOSED_FORM_BATCH_NORM_TEMPORARIES;
  if (className === 'BatchNormalization' || className === 'LayerNormalization') return NORMALISATION_TEMPORARIES;
  const biasAdd = 'use_bias' in config && config.use_bias !== false ? 1 : 0;
  const activation = typeof config.activation === 'string' && config.activation !== 'linear' ? 1 : 0;
  return 1 + biasAdd + activation;
}

/** The case the closed-form kernel takes over: channels last, centre and scale on (`installBatchNormTraining`). */
function takesClosedForm(config: Record<string, unknown>, rank: number): boolean {
  const axes = Array.isArray(config.axis) ? config.axis : [config.axis ?? -1];
  const last = axes.length === 1 && typeof axes[0] === 'number' && (axes[0] === -1 || axes[0] === rank - 1);
  return last && rank >= 2 && config.center !== false && config.scale !== false;
}

interface Counted {
  output: Shape;
  trainable?: number;
  frozen?: number;
}

const POOLING = /^(Max|Average)Pooling([123])D$/;
const GLOBAL_POOLING = /^Global(Max|Average)Pooling([123])D$/;
const CONV = /^Conv([123])D$/;
const PASS_THROUGH = new Set([
  'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'SpatialDropout3D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Softmax', 'Rescaling', 'Masking', 'ActivityRegularization',
]);
const MERGE = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum']);

function knownLayer(className: string, config: Record<string, unknown>, inputs: Shape[], input: Shape): Counted | undefined {
  if (PASS_THROUGH.has(className)) return { output: input };
  if (MERGE.has(className)) return { output: broadcast(inputs) };
  const channelsFirst = config.data_format === 'channels_first';
  const channelAxis = channelsFirst ? 0 : input.length - 1;
  let match: RegExpExecArray | null;
  switch (className) {
    case 'Dense': {
      const units = positive(config.units);
      const inUnits = input[input.length - 1];
      if (units === undefined || typeof inUnits !== 'number') return undefined;
      return { output: [...input.slice(0, -1), units], trainable: inUnits * units + (config.use_bias === false ? 0 : units) };
    }
    case 'Flatten':
      return { output: [isKnown(input) ? product(input) : null] };
    case 'Reshape':
      return reshape(config.target_shape, input);
    case 'Permute': {
      const dims = Array.isArray(config.dims) ? config.dims : [];
      return { output: dims.map((d) => input[Number(d) - 1] ?? null) };
    }
    case 'BatchNormalization': {
      const axis = normaliseAxis(Array.isArray(config.axis) ? config.axis[0] : config.axis ?? -1, input.length);
      const size = typeof input[axis] === 'number' ? (input[axis] as number) : 0;
      const scaled = (config.center === false ? 0 : 1) + (config.scale === false ? 0 : 1);
      return { output: input, trainable: size * scaled, frozen: size * 2 };
    }
    case 'LayerNormalization': {
      const size = typeof input[input.length - 1] === 'number' ? (input[input.length - 1] as number) : 0;
      return { output: input, trainable: size * ((config.center === false ? 0 : 1) + (config.scale === false ? 0 : 1)) };
    }
    case 'Normalization': {
      const size = typeof input[input.length - 1] === 'number' ? (input[input.length - 1] as number) : 0;
      return { output: input, frozen: size * 2 + 1 };
    }
    case 'PReLU': {
      const shared = new Set((Array.isArray(config.shared_axes) ? config.shared_axes : []).map(Number));
      return { output: input, trainable: product(input.map((d, i) => (shared.has(i + 1) ? 1 : d ?? 1))) };
    }
    case 'Concatenate': {
      const axis = normaliseAxis(config.axis ?? -1, input.length);
      const output = [...input];
      output[axis] = inputs.reduce<number | null>((sum, shape) => (sum === null || typeof shape[axis] !== 'number' ? null : sum + (shape[axis] as number)), 0);
      return { output };
    }
    case 'Embedding': {
      const inputDim = positive(config.input_dim);
      const outputDim = positive(config.output_dim);
      if (inputDim === undefined || outputDim === undefined) return undefined;
      return { output: [...input, outputDim], trainable: inputDim * outputDim };
    }
    case 'ZeroPadding1D':
    case 'ZeroPadding2D':
    case 'ZeroPadding3D':
    case 'Cropping1D':
    case 'Cropping2D':
    case 'Cropping3D': {
      const rank = Number(className.at(-2));
      const key = className.startsWith('Zero') ? 'padding' : 'cropping';
      const pairs = padPairs(config[key], rank);
      const sign = key === 'padding' ? 1 : -1;
      return { output: mapSpatial(input, rank, channelsFirst, (n, i) => n + sign * (pairs[i][0] + pairs[i][1])) };
    }
    case 'UpSampling1D':
    case 'UpSampling2D':
    case 'UpSampling3D': {
      const rank = Number(className.at(-2));
      const size = tuple(config.size ?? config.length, rank, 2);
      return { output: mapSpatial(input, rank, channelsFirst, (n, i) => n * size[i]) };
    }
    case 'DepthwiseConv2D': {
      const kernel = tuple(config.kernel_size, 2, 1);
      const multiplier = positive(config.depth_multiplier) ?? 1;
      const inChannels = input[channelAxis];
      if (typeof inChannels !== 'number') return undefined;
      const out = inChannels * multiplier;
      return {
        output: withChannels(convSpatial(input, 2, channelsFirst, config), out, channelsFirst),
        trainable: product(kernel) * out + (config.use_bias === false ? 0 : out),
      };
    }
    case 'SeparableConv1D':
    case 'SeparableConv2D': {
      const rank = className === 'SeparableConv1D' ? 1 : 2;
      const kernel = tuple(config.kernel_size, rank, 1);
      const multiplier = positive(config.depth_multiplier) ?? 1;
      const filters = positive(config.filters);
      const inChannels = input[channelAxis];
      if (filters === undefined || typeof inChannels !== 'number') return undefined;
      return {
        output: withChannels(convSpatial(input, rank, channelsFirst, config), filters, channelsFirst),
        trainable: product(kernel) * inChannels * multiplier + inChannels * multiplier * filters + (config.use_bias === false ? 0 : filters),
      };
    }
    case 'Conv2DTranspose':
    case 'Conv3DTranspose': {
      const rank = className === 'Conv2DTranspose' ? 2 : 3;
      const kernel = tuple(config.kernel_size, rank, 1);
      const strides = tuple(config.strides, rank, 1);
      const filters = positive(config.filters);
      const inChannels = input[channelAxis];
      if (filters === undefined || typeof inChannels !== 'number') return undefined;
      const same = config.padding === 'same';
      const spatial = mapSpatial(input, rank, channelsFirst, (n, i) => (same ? n * strides[i] : n * strides[i] + Math.max(kernel[i] - strides[i], 0)));
      return { output: withChannels(spatial, filters, channelsFirst), trainable: product(kernel) * filters * inChannels + (config.use_bias === false ? 0 : filters) };
    }
  }
  if ((match = CONV.exec(className))) {
    const rank = Number(match[1]);
    const kernel = tuple(config.kernel_size, rank, 1);
    const filters = positive(config.filters);
    const groups = positive(config.groups) ?? 1;
    const inChannels = input[channelAxis];
    if (filters === undefined || typeof inChannels !== 'number') return undefined;
    return {
      output: withChannels(convSpatial(input, rank, channelsFirst, config), filters, channelsFirst),
      trainable: product(kernel) * (inChannels / groups) * filters + (config.use_bias === false ? 0 : filters),
    };
  }
  if ((match = POOLING.exec(className))) {
    const rank = Number(match[2]);
    const pool = tuple(config.pool_size, rank, 2);
    const strides = config.strides == null ? pool : tuple(config.strides, rank, 1);
    return { output: mapSpatial(input, rank, channelsFirst, (n, i) => convLength(n, pool[i], strides[i], 1, config.padding)) };
  }
  if ((match = GLOBAL_POOLING.exec(className))) {
    const channels = input[channelAxis] ?? null;
    if (config.keepdims === true) return { output: mapSpatial(input, Number(match[2]), channelsFirst, () => 1) };
    return { output: [channels] };
  }
  return undefined;
}

function convSpatial(input: Shape, rank: number, channelsFirst: boolean, config: Record<string, unknown>): Shape {
  const kernel = tuple(config.kernel_size, rank, 1);
  const strides = tuple(config.strides, rank, 1);
  const dilation = tuple(config.dilation_rate, rank, 1);
  return mapSpatial(input, rank, channelsFirst, (n, i) => convLength(n, kernel[i], strides[i], dilation[i], config.padding));
}

/** Keras' conv_output_length ('causal' pads like 'same' at stride 1). */
function convLength(n: number, kernel: number, stride: number, dilation: number, padding: unknown): number {
  const extent = (kernel - 1) * dilation + 1;
  const length = padding === 'same' || padding === 'causal' ? n : n - extent + 1;
  return Math.max(0, Math.floor((length + stride - 1) / stride));
}

/** Applies `f` to the `rank` spatial dimensions; unknown dimensions stay unknown. */
function mapSpatial(input: Shape, rank: number, channelsFirst: boolean, f: (n: number, i: number) => number): Shape {
  const start = channelsFirst ? 1 : input.length - 1 - rank;
  return input.map((d, axis) => (axis >= start && axis < start + rank && typeof d === 'number' ? f(d, axis - start) : d));
}

function withChannels(shape: Shape, channels: number, channelsFirst: boolean): Shape {
  const out = [...shape];
  out[channelsFirst ? 0 : out.length - 1] = channels;
  return out;
}

function reshape(target: unknown, input: Shape): Counted | undefined {
  if (!Array.isArray(target)) return undefined;
  const dims = target.map((d) => (typeof d === 'number' ? d : -1));
  const free = dims.indexOf(-1);
  if (free >= 0 && isKnown(input)) {
    const rest = product(dims.filter((d) => d !== -1));
    dims[free] = rest > 0 ? product(input) / rest : 0;
  }
  return { output: dims.map((d) => (d > 0 ? d : null)) };
}

function broadcast(inputs: Shape[]): Shape {
  const rank = Math.max(...inputs.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => {
    let out: number | null = 1;
    for (const shape of inputs) {
      const d = shape[shape.length - rank + i] ?? 1;
      out = d === null || out === null ? null : Math.max(out, d);
    }
    return out;
  });
}

function padPairs(value: unknown, rank: number): Array<[number, number]> {
  const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [num(v[0]), num(v[1] ?? v[0])] : [num(v), num(v)]);
  if (Array.isArray(value) && value.length === rank && (rank > 1 || Array.isArray(value[0]))) return value.map(pair);
  if (Array.isArray(value) && rank === 1) return [pair(value)];
  return Array.from({ length: rank }, () => pair(value ?? 1));
}

function tuple(value: unknown, rank: number, fallback: number): number[] {
  if (Array.isArray(value)) return Array.from({ length: rank }, (_, i) => positive(value[i] ?? value[0]) ?? fallback);
  const n = positive(value) ?? fallback;
  return Array.from({ length: rank }, () => n);
}

function normaliseAxis(value: unknown, rank: number): number {
  // Keras counts the batch axis; shapes here do not.
  const axis = typeof value === 'number' ? value : -1;
  return axis < 0 ? rank + axis : axis - 1;
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function isKnown(shape: Shape): shape is number[] {
  return shape.every((d) => typeof d === 'number');
}

/** Elements of a shape, unknown dimensions counted as 1 (an undercount, never an overcount). */
function known(shape: Shape): number {
  return product(shape.map((d) => d ?? 1));
}

function product(values: number[]): number {
  return values.reduce((a, b) => a * b, 1);
}
