import * as tf from '@tensorflow/tfjs';
import { lossUsesLogits, type LossKind, type OutputSquash } from './losses';

/** How a recorded activation is judged: dead units for the ReLU family, flat tails for squashing functions. */
export type ActivationKind = 'relu' | 'sigmoid' | 'tanh' | 'softmax' | 'other';

/** A layer whose gradients are recorded: its kernel (or BatchNormalization's gamma) and where its activation is read. */
export interface InstrumentedLayer {
  name: string;
  variable: tf.Variable;
  /** Index into the tap model's outputs. */
  activationIndex: number;
  activationKind: ActivationKind;
}

/**
 * One forward pass that yields the loss input (logits where the loss allows) and every
 * instrumented layer's activation, as a multi-output model sharing the user's layers.
 */
export interface ForwardPlan {
  /** Outputs: [loss input, ...activations]. */
  tapModel: tf.LayersModel;
  /** Output: the loss input only (the uninstrumented step). */
  plainModel: tf.LayersModel;
  fromLogits: boolean;
  instrumented: InstrumentedLayer[];
  trainableVariables: tf.Variable[];
  /** Puts back any output activation the plan switched to linear. */
  restore(): void;
}

type AnyLayer = tf.layers.Layer & Record<string, unknown>;

const RELU_FAMILY = new Set(['relu', 'relu6']);
const ACTIVATION_LAYERS = new Set(['Activation', 'ReLU', 'Softmax', 'LeakyReLU', 'ELU', 'PReLU', 'ThresholdedReLU']);
/** Layers an activation can sit behind without changing which units it belongs to. */
const PASS_THROUGH_LAYERS = new Set(['BatchNormalization', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'LayerNormalization']);
const PRIMARY_WEIGHT_SUFFIXES = ['/kernel', '/depthwise_kernel', '/gamma'];

function activationName(layer: tf.layers.Layer): string | undefined {
  const className = layer.getClassName();
  if (className === 'ReLU') return 'relu';
  if (className === 'Softmax') return 'softmax';
  const activation = layer.getConfig()['activation'];
  return typeof activation === 'string' ? activation.toLowerCase() : undefined;
}

function kindOf(activation: string | undefined): ActivationKind | undefined {
  if (activation === undefined || activation === 'linear') return undefined;
  if (RELU_FAMILY.has(activation)) return 'relu';
  if (activation === 'sigmoid' || activation === 'hardsigmoid' || activation === 'hard_sigmoid') return 'sigmoid';
  if (activation === 'tanh') return 'tanh';
  if (activation === 'softmax') return 'softmax';
  return 'other';
}

/**
 * The layer's call in `model`'s graph. Usually its only node, but a nested model (a Sequential
 * inside a Functional) keeps node 0 for its own inner graph and is called in the outer one at
 * node 1: tapping node 0 would ask the outer model for a tensor it cannot compute.
 */
function nodeIn(model: tf.LayersModel, layer: tf.layers.Layer): (typeof layer.inboundNodes)[number] {
  const inGraph = (model as unknown as { containerNodes?: Set<string> }).containerNodes;
  const index = layer.inboundNodes.findIndex((_, i) => inGraph?.has(`${layer.name}_ib-${i}`));
  return layer.inboundNodes[Math.max(0, index)];
}

function outputOf(model: tf.LayersModel, layer: tf.layers.Layer): tf.SymbolicTensor {
  return nodeIn(model, layer).outputTensors[0];
}

function inputOf(model: tf.LayersModel, layer: tf.layers.Layer): tf.SymbolicTensor {
  return nodeIn(model, layer).inputTensors[0];
}

function singleConsumer(layer: tf.layers.Layer): tf.layers.Layer | undefined {
  const consumers = layer.outboundNodes.map((node) => node.outboundLayer);
  return consumers.length === 1 ? consumers[0] : undefined;
}

/** The tensor whose health says most about this layer: its own output if it activates, else the activation right behind it. */
function activationTap(model: tf.LayersModel, layer: tf.layers.Layer): { tensor: tf.SymbolicTensor; kind: ActivationKind } {
  let current: tf.layers.Layer | undefined = layer;
  while (current) {
    const kind = kindOf(activationName(current));
    if (kind) return { tensor: outputOf(model, current), kind };
    const next = singleConsumer(current);
    const nextClass = next?.getClassName() ?? '';
    current = next && (ACTIVATION_LAYERS.has(nextClass) || PASS_THROUGH_LAYERS.has(nextClass)) ? next : undefined;
  }
  return { tensor: outputOf(model, layer), kind: 'other' };
}

function primaryWeight(layer: tf.layers.Layer): tf.Variable | undefined {
  const weight = layer.trainableWeights.find((w) => PRIMARY_WEIGHT_SUFFIXES.some((suffix) => `/${w.originalName}`.endsWith(suffix)));
  return weight?.read() as tf.Variable | undefined;
}

function outputSquash(head: tf.layers.Layer): OutputSquash {
  const activation = activationName(head);
  if (activation === 'softmax' || activation === 'sigmoid') return activation;
  return activation === undefined || activation === 'linear' ? 'none' : 'other';
}

export function planForward(model: tf.LayersModel, loss: LossKind): ForwardPlan {
  const head = model.outputs[0].sourceLayer as AnyLayer;
  const squash = outputSquash(head);
  const fromLogits = lossUsesLogits(loss, squash);
  let lossInput = model.outputs[0];
  let restore = () => {};
  if (fromLogits && squash !== 'none') {
    if (ACTIVATION_LAYERS.has(head.getClassName())) {
      lossInput = inputOf(model, head);
    } else {
      // The squash is inline (Dense(..., activation='softmax')): no graph tensor holds the
      // logits, so the head computes linearly for this run. TF.js layers read `activation` at
      // call time; a genuine Linear instance keeps the fused-kernel path working.
      const original = head['activation'];
      head['activation'] = (tf.layers.dense({ units: 1, activation: 'linear' }) as unknown as AnyLayer)['activation'];
      restore = () => {
        head['activation'] = original;
      };
    }
  }

  const outputs: tf.SymbolicTensor[] = [lossInput];
  const instrumented: InstrumentedLayer[] = [];
  for (const layer of model.layers) {
    const variable = primaryWeight(layer);
    if (!variable) continue;
    const tap = activationTap(model, layer);
    let index = outputs.indexOf(tap.tensor);
    if (index < 0) index = outputs.push(tap.tensor) - 1;
    instrumented.push({ name: layer.name, variable, activationIndex: index, activationKind: tap.kind });
  }
  const tapModel = tf.model({ inputs: model.inputs, outputs });
  const plainModel = tf.model({ inputs: model.inputs, outputs: lossInput });
  const trainableVariables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return { tapModel, plainModel, fromLogits, instrumented, trainableVariables, restore };
}
