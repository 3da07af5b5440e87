import * as tf from '@tensorflow/tfjs';

/**
 * The reference networks the engine is measured and checked on, for 28×28×1 inputs and 10
 * classes. `scripts/torch/networks.py` defines the same architectures in PyTorch under the
 * same names, with the same layer names, so weights and gradients can be matched by name.
 *
 * Every network ends in a linear Dense layer: the loss is softmax cross-entropy on logits
 * (FACTS.md: probability-space losses clip and hide gradients).
 */
export const REFERENCE_INPUT_SHAPE = [28, 28, 1];
export const REFERENCE_CLASSES = 10;

export interface ReferenceNetwork {
  name: string;
  description: string;
  /** Part of the speed bench; the others exist to check gradients of padding and stride cases. */
  benchmarked: boolean;
  build(seed: number): tf.LayersModel;
}

/** Seeded initializers so a network and its weights repeat exactly for a seed. */
class SeededLayers {
  private next = 0;
  constructor(private readonly seed: number) {}

  kernel(): ReturnType<typeof tf.initializers.glorotUniform> {
    return tf.initializers.glorotUniform({ seed: this.seed * 1000 + this.next++ });
  }
}

function conv(
  init: SeededLayers,
  name: string,
  filters: number,
  kernelSize: number,
  options: { strides?: number; padding?: 'valid' | 'same'; activation?: 'relu' | 'sigmoid' | 'tanh' | 'linear'; useBias?: boolean; inputShape?: number[] } = {},
): tf.layers.Layer {
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize,
    strides: options.strides ?? 1,
    padding: options.padding ?? 'valid',
    activation: options.activation ?? 'linear',
    useBias: options.useBias ?? true,
    kernelInitializer: init.kernel(),
    ...(options.inputShape ? { inputShape: options.inputShape } : {}),
  });
}

function logits(init: SeededLayers, model: tf.Sequential): void {
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'logits', units: REFERENCE_CLASSES, kernelInitializer: init.kernel() }));
}

function smallCnn(seed: number): tf.LayersModel {
  const init = new SeededLayers(seed);
  const model = tf.sequential({ name: 'small_cnn' });
  model.add(conv(init, 'conv1', 8, 3, { activation: 'relu', inputShape: REFERENCE_INPUT_SHAPE }));
  model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }));
  model.add(conv(init, 'conv2', 16, 3, { activation: 'relu' }));
  model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }));
  logits(init, model);
  return model;
}

function sigmoid10Conv(seed: number): tf.LayersModel {
  const init = new SeededLayers(seed);
  const model = tf.sequential({ name: 'sigmoid_10conv' });
  for (let i = 1; i <= 10; i++) {
    model.add(conv(init, `conv${i}`, 8, 3, { padding: 'same', activation: 'sigmoid', ...(i === 1 ? { inputShape: REFERENCE_INPUT_SHAPE } : {}) }));
  }
  logits(init, model);
  return model;
}

function reluBn10Conv(seed: number): tf.LayersModel {
  const init = new SeededLayers(seed);
  const model = tf.sequential({ name: 'relu_bn_10conv' });
  for (let i = 1; i <= 10; i++) {
    // No conv bias: BatchNormalization subtracts the batch mean, so its gradient is zero up
    // to rounding and a relative comparison of it would only compare noise.
    model.add(conv(init, `conv${i}`, 8, 3, { padding: 'same', useBias: false, ...(i === 1 ? { inputShape: REFERENCE_INPUT_SHAPE } : {}) }));
    model.add(tf.layers.batchNormalization({ name: `bn${i}`, axis: -1, epsilon: 1e-3, momentum: 0.99 }));
    model.add(tf.layers.activation({ name: `relu${i}`, activation: 'relu' }));
  }
  logits(init, model);
  return model;
}

function lenet5(seed: number): tf.LayersModel {
  const init = new SeededLayers(seed);
  const model = tf.sequential({ name: 'lenet5' });
  model.add(conv(init, 'conv1', 6, 5, { padding: 'same', activation: 'tanh', inputShape: REFERENCE_INPUT_SHAPE }));
  model.add(tf.layers.averagePooling2d({ name: 'pool1', poolSize: 2, strides: 2 }));
  model.add(conv(init, 'conv2', 16, 5, { activation: 'tanh' }));
  model.add(tf.layers.averagePooling2d({ name: 'pool2', poolSize: 2, strides: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'fc1', units: 120, activation: 'tanh', kernelInitializer: init.kernel() }));
  model.add(tf.layers.dense({ name: 'fc2', units: 84, activation: 'tanh', kernelInitializer: init.kernel() }));
  model.add(tf.layers.dense({ name: 'logits', units: REFERENCE_CLASSES, kernelInitializer: init.kernel() }));
  return model;
}

function stridedCnn(seed: number): tf.LayersModel {
  const init = new SeededLayers(seed);
  const model = tf.sequential({ name: 'strided_cnn' });
  model.add(conv(init, 'conv1', 8, 5, { strides: 2, activation: 'relu', inputShape: REFERENCE_INPUT_SHAPE }));
  model.add(conv(init, 'conv2', 16, 3, { strides: 2, activation: 'relu' }));
  logits(init, model);
  return model;
}

/**
 * TF 'same' padding is asymmetric when the total padding is odd (the extra row and column go
 * bottom/right); PyTorch's symmetric `padding=` cannot express that, which is the point here:
 * 3×3 stride 2 on 28 pads 0/1, 4×4 stride 1 pads 1/2.
 */
function samePaddedCnn(seed: number): tf.LayersModel {
  const init = new SeededLayers(seed);
  const model = tf.sequential({ name: 'same_padded_cnn' });
  model.add(conv(init, 'conv1', 8, 3, { padding: 'same', activation: 'relu', inputShape: REFERENCE_INPUT_SHAPE }));
  model.add(conv(init, 'conv2', 16, 3, { strides: 2, padding: 'same', activation: 'relu' }));
  model.add(conv(init, 'conv3', 16, 4, { padding: 'same', activation: 'relu' }));
  model.add(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2, strides: 2 }));
  logits(init, model);
  return model;
}

export const REFERENCE_NETWORKS: readonly ReferenceNetwork[] = [
  { name: 'small-cnn', description: 'conv8-pool-conv16-pool-dense10', benchmarked: true, build: smallCnn },
  { name: 'sigmoid-10conv', description: '10 × conv8 3×3 same, sigmoid, dense10', benchmarked: true, build: sigmoid10Conv },
  { name: 'relu-bn-10conv', description: '10 × (conv8 3×3 same, BatchNorm, ReLU), dense10', benchmarked: true, build: reluBn10Conv },
  { name: 'lenet5', description: 'LeNet-5: conv6 5×5 same, avgpool, conv16 5×5, avgpool, 120-84-10, tanh', benchmarked: true, build: lenet5 },
  { name: 'strided-cnn', description: 'conv8 5×5 stride 2, conv16 3×3 stride 2, dense10', benchmarked: false, build: stridedCnn },
  { name: 'same-padded-cnn', description: "conv8 3×3 same, conv16 3×3 stride 2 same, conv16 4×4 same, maxpool, dense10", benchmarked: false, build: samePaddedCnn },
];

export function referenceNetwork(name: string): ReferenceNetwork {
  const network = REFERENCE_NETWORKS.find((n) => n.name === name);
  if (!network) throw new Error(`unknown reference network '${name}' (known: ${REFERENCE_NETWORKS.map((n) => n.name).join(', ')})`);
  return network;
}
