// Writes Keras model configs in the exact shapes Keras itself writes (`model.to_json()` of
// tf.keras 2.x and of Keras 3), from a short layer list, so the samples and test fixtures look
// like files users have. Used by make-samples.mjs and make-fixtures.mjs.

const KERAS2_VERSION = '2.15.0';

// ──── layer specs ────
// { kind: 'input', name, shape } | { kind: 'conv', name, filters, kernel, padding, activation, init, useBias }
// { kind: 'pool', name } | { kind: 'bn', name } | { kind: 'flatten', name }
// { kind: 'dense', name, units, activation, init } | { kind: 'raw', className, config } (anything else)

/** An initializer as `{class_name, config}`; Keras 3 adds `module` and `registered_name`. */
export function initializer(className, config = {}) {
  return { className, config };
}
export const glorotUniform = () => initializer('GlorotUniform', { seed: null });
export const heNormal = () => initializer('HeNormal', { seed: null });
export const randomNormal = (stddev) => initializer('RandomNormal', { mean: 0.0, stddev, seed: null });

function keras2Initializer(init) {
  return { class_name: init.className, config: { ...init.config } };
}
function keras3Initializer(init) {
  return { module: 'keras.initializers', class_name: init.className, config: { ...init.config }, registered_name: null };
}

function layerConfig(spec, version) {
  const init = version === 2 ? keras2Initializer : keras3Initializer;
  const dtype = version === 2 ? 'float32' : { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const base = { name: spec.name, trainable: true, dtype };
  const regularizers = { kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null };
  switch (spec.kind) {
    case 'input':
      return version === 2
        ? ['InputLayer', { batch_input_shape: [null, ...spec.shape], dtype: 'float32', sparse: false, ragged: false, name: spec.name }]
        : ['InputLayer', { batch_shape: [null, ...spec.shape], dtype: 'float32', sparse: false, name: spec.name }];
    case 'conv':
      return [
        'Conv2D',
        {
          ...base,
          filters: spec.filters,
          kernel_size: spec.kernel ?? [3, 3],
          strides: [1, 1],
          padding: spec.padding ?? 'same',
          data_format: 'channels_last',
          dilation_rate: [1, 1],
          groups: 1,
          activation: spec.activation,
          use_bias: spec.useBias ?? true,
          kernel_initializer: init(spec.init ?? glorotUniform()),
          bias_initializer: init(initializer('Zeros')),
          ...regularizers,
        },
      ];
    case 'pool':
      return ['MaxPooling2D', { ...base, pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }];
    case 'bn':
      return [
        'BatchNormalization',
        {
          ...base,
          // tf.keras 2 writes the axis list it resolved at build time; Keras 3 keeps the int.
          axis: version === 2 ? [3] : -1,
          momentum: 0.99,
          epsilon: 0.001,
          center: true,
          scale: true,
          beta_initializer: init(initializer('Zeros')),
          gamma_initializer: init(initializer('Ones')),
          moving_mean_initializer: init(initializer('Zeros')),
          moving_variance_initializer: init(initializer('Ones')),
          beta_regularizer: null,
          gamma_regularizer: null,
          beta_constraint: null,
          gamma_constraint: null,
          ...(version === 3 ? { synchronized: false } : {}),
        },
      ];
    case 'flatten':
      return ['Flatten', { ...base, data_format: 'channels_last' }];
    case 'dense':
      return [
        'Dense',
        {
          ...base,
          units: spec.units,
          activation: spec.activation,
          use_bias: true,
          kernel_initializer: init(spec.init ?? glorotUniform()),
          bias_initializer: init(initializer('Zeros')),
          ...regularizers,
        },
      ];
    case 'raw':
      return [spec.className, { ...base, ...spec.config }];
    default:
      throw new Error(`unknown layer kind ${spec.kind}`);
  }
}

/** Shapes each layer's input has, for Keras 3's `build_config` (only the kinds the samples use). */
function inputShapes(specs) {
  const shapes = [];
  let shape = null;
  for (const spec of specs) {
    shapes.push(shape);
    if (spec.kind === 'input') shape = [null, ...spec.shape];
    else if (spec.kind === 'conv') {
      const [h, w] = spec.padding === 'valid' ? [shape[1] - 2, shape[2] - 2] : [shape[1], shape[2]];
      shape = [null, h, w, spec.filters];
    } else if (spec.kind === 'pool') shape = [null, Math.floor(shape[1] / 2), Math.floor(shape[2] / 2), shape[3]];
    else if (spec.kind === 'flatten') shape = [null, shape.slice(1).reduce((a, b) => a * b, 1)];
    else if (spec.kind === 'dense') shape = [null, spec.units];
  }
  return shapes;
}

/** `model.to_json()` of tf.keras 2.x for a Sequential model. */
export function keras2Sequential(name, specs) {
  const layers = specs.map((spec) => {
    const [className, config] = layerConfig(spec, 2);
    return { class_name: className, config };
  });
  return { class_name: 'Sequential', config: { name, layers }, keras_version: KERAS2_VERSION, backend: 'tensorflow' };
}

/** `model.to_json()` of Keras 3 for a Sequential model (built, so every layer has `build_config`). */
export function keras3Sequential(name, specs, compileConfig) {
  const shapes = inputShapes(specs);
  const inputShape = [null, ...specs[0].shape];
  const layers = specs.map((spec, i) => {
    const [className, config] = layerConfig(spec, 3);
    const layer = { module: 'keras.layers', class_name: className, config, registered_name: null };
    if (spec.kind !== 'input') layer.build_config = { input_shape: shapes[i] };
    return layer;
  });
  const model = {
    module: 'keras',
    class_name: 'Sequential',
    config: {
      name,
      trainable: true,
      dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null },
      layers,
      build_input_shape: inputShape,
    },
    registered_name: null,
    build_config: { input_shape: inputShape },
  };
  if (compileConfig) model.compile_config = compileConfig;
  return model;
}

// ──── training settings ────

const OPTIMIZER_DEFAULTS = {
  SGD: { momentum: 0.0, nesterov: false },
  Adam: { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false },
};

/** What a `.h5` / saved model keeps beside `model_config` (tf.keras 2.x). */
export function keras2TrainingConfig(optimizer, learningRate, loss) {
  return {
    loss,
    metrics: [[{ class_name: 'MeanMetricWrapper', config: { name: 'accuracy', dtype: 'float32', fn: 'categorical_accuracy' } }]],
    weighted_metrics: null,
    loss_weights: null,
    optimizer_config: {
      class_name: optimizer,
      config: {
        name: optimizer,
        weight_decay: null,
        clipnorm: null,
        global_clipnorm: null,
        clipvalue: null,
        use_ema: false,
        ema_momentum: 0.99,
        ema_overwrite_frequency: null,
        jit_compile: false,
        is_legacy_optimizer: false,
        learning_rate: learningRate,
        ...OPTIMIZER_DEFAULTS[optimizer],
      },
    },
  };
}

/** Keras 3's `compile_config`, written beside `config` by `to_json()` once the model is compiled. */
export function keras3CompileConfig(optimizer, learningRate, loss) {
  return {
    optimizer: {
      module: 'keras.optimizers',
      class_name: optimizer,
      config: {
        name: optimizer,
        learning_rate: learningRate,
        weight_decay: null,
        clipnorm: null,
        global_clipnorm: null,
        clipvalue: null,
        use_ema: false,
        ema_momentum: 0.99,
        ema_overwrite_frequency: null,
        loss_scale_factor: null,
        gradient_accumulation_steps: null,
        ...OPTIMIZER_DEFAULTS[optimizer],
      },
      registered_name: null,
    },
    loss,
    loss_weights: null,
    metrics: ['accuracy'],
    weighted_metrics: null,
    run_eagerly: false,
    steps_per_execution: 1,
    jit_compile: false,
  };
}

/** Pretty-printed like Python's `json.dumps(indent=2)`, so every layer has lines of its own. */
export function toFileText(object) {
  return JSON.stringify(object, null, 2) + '\n';
}
