import type { ModelFormat } from '../model';
import type { OptimizerName } from '../codes';

/**
 * New objects in the shape each format writes them, limited to what TF.js reads back (the
 * engine loads every format through TF.js, so a fix that Keras accepts but TF.js does not
 * would be a fix the user cannot verify).
 */

export type InitScheme = 'he' | 'glorot' | 'lecun';

/** He for ReLU, Glorot for tanh/linear/softmax, LeCun for sigmoid/SELU (TheDeepChecker). */
export function schemeFor(activation: string | undefined): InitScheme {
  if (activation === 'selu' || activation === 'sigmoid' || activation === 'hard_sigmoid' || activation === 'hardSigmoid') return 'lecun';
  if (activation === 'relu' || activation === 'relu6' || activation === 'elu' || activation === 'LeakyReLU' || activation === 'leaky_relu') return 'he';
  return 'glorot';
}

/** The initializer class names a file may already use for each scheme (so an already-right layer is left alone). */
export const SCHEME_CLASS_NAMES: Record<InitScheme, string[]> = {
  he: ['HeNormal', 'HeUniform', 'he_normal', 'he_uniform'],
  glorot: ['GlorotUniform', 'GlorotNormal', 'glorot_uniform', 'glorot_normal'],
  lecun: ['LecunNormal', 'LeCunNormal', 'LecunUniform', 'LeCunUniform', 'lecun_normal', 'lecun_uniform'],
};

export function initializer(scheme: InitScheme, format: ModelFormat): Record<string, unknown> {
  // Keras spells it LecunNormal and TF.js LeCunNormal; VarianceScaling is the same thing in both.
  const [className, config]: [string, Record<string, unknown>] =
    scheme === 'he'
      ? ['HeNormal', { seed: null }]
      : scheme === 'glorot'
        ? ['GlorotUniform', { seed: null }]
        : ['VarianceScaling', { scale: 1, mode: 'fan_in', distribution: 'normal', seed: null }];
  return serialized('keras.initializers', className, config, format);
}

export function zerosInitializer(format: ModelFormat): Record<string, unknown> {
  return serialized('keras.initializers', 'Zeros', {}, format);
}

function serialized(module: string, className: string, config: Record<string, unknown>, format: ModelFormat): Record<string, unknown> {
  return format === 'keras3' ? { module, class_name: className, config, registered_name: null } : { class_name: className, config };
}

/** A layer entry for the layer list; `extra` carries Functional `name`/`inbound_nodes` and Keras 3 `build_config`. */
export function layerEntry(className: string, config: Record<string, unknown>, format: ModelFormat, extra: Record<string, unknown> = {}): Record<string, unknown> {
  if (format === 'keras3') {
    const { build_config, ...rest } = extra;
    return { module: 'keras.layers', class_name: className, config, registered_name: null, ...(build_config ? { build_config } : {}), ...rest };
  }
  return { class_name: className, config, ...extra };
}

export function batchNormalizationConfig(name: string, dtype: unknown): Record<string, unknown> {
  return { name, trainable: true, dtype, axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true };
}

/** Keras 3 renamed LeakyReLU's `alpha` to `negative_slope`; Keras 2 and TF.js read `alpha`. */
export function leakyReluConfig(name: string, dtype: unknown, format: ModelFormat): Record<string, unknown> {
  return { name, trainable: true, dtype, ...(format === 'keras3' ? { negative_slope: 0.1 } : { alpha: 0.1 }) };
}

export function activationConfig(name: string, dtype: unknown, activation: string): Record<string, unknown> {
  return { name, trainable: true, dtype, activation };
}

/** Keras layer names for new layers: `batch_normalization`, then `batch_normalization_1`, … (Keras's own scheme). */
export function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

const KERAS_OPTIMIZER_CLASS: Record<OptimizerName, string> = {
  sgd: 'SGD',
  momentum: 'SGD',
  adam: 'Adam',
  rmsprop: 'RMSprop',
  adagrad: 'Adagrad',
  adadelta: 'Adadelta',
  adamax: 'Adamax',
};

/** TF.js writes `learningRate`, Keras `learning_rate`. */
export function learningRateKey(format: ModelFormat): string {
  return format === 'tfjs-layers' ? 'learningRate' : 'learning_rate';
}

export function optimizerObject(optimizer: OptimizerName, learningRate: number, format: ModelFormat, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const config: Record<string, unknown> = { [learningRateKey(format)]: learningRate, ...extra };
  if (optimizer === 'momentum') config.momentum = 0.9;
  return serialized('keras.optimizers', KERAS_OPTIMIZER_CLASS[optimizer], config, format);
}

/** A whole training config for a file that has none, under the key each format reads. */
export function trainingConfigEntry(
  optimizer: OptimizerName,
  learningRate: number,
  loss: string,
  format: ModelFormat,
  optimizerExtra: Record<string, unknown> = {},
): { key: string; value: Record<string, unknown> } {
  const optimizerValue = optimizerObject(optimizer, learningRate, format, optimizerExtra);
  if (format === 'keras3') return { key: 'compile_config', value: { optimizer: optimizerValue, loss } };
  if (format === 'tfjs-layers') return { key: 'trainingConfig', value: { loss, optimizer_config: optimizerValue } };
  return { key: 'training_config', value: { loss, optimizer_config: optimizerValue } };
}
