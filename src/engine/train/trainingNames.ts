import { OPTIMIZERS, type OptimizerName } from '../../shared/codes';

// The loss and optimizer names the engine knows, without TF.js: the PyTorch path validates its
// options with them and must not pay for loading TF.js (0.6 s of the engine's start).

export type LossKind = 'categorical_crossentropy' | 'sparse_categorical_crossentropy' | 'mean_squared_error' | 'binary_crossentropy';

const SPELLINGS: Record<string, LossKind> = {
  categoricalcrossentropy: 'categorical_crossentropy',
  sparsecategoricalcrossentropy: 'sparse_categorical_crossentropy',
  meansquarederror: 'mean_squared_error',
  mse: 'mean_squared_error',
  binarycrossentropy: 'binary_crossentropy',
};

/** Keras and TF.js spell losses three ways (`categorical_crossentropy`, `categoricalCrossentropy`, `CategoricalCrossentropy`). */
export function parseLossName(name: string): LossKind | undefined {
  return SPELLINGS[name.trim().replace(/[_\s-]/g, '').toLowerCase()];
}

export function knownLosses(): string {
  return 'categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error (mse), binary_crossentropy';
}

const KERAS_SPELLINGS: Record<string, OptimizerName> = {
  sgd: 'sgd',
  momentum: 'momentum',
  adam: 'adam',
  rmsprop: 'rmsprop',
  adagrad: 'adagrad',
  adadelta: 'adadelta',
  adamax: 'adamax',
};

/** The optimizer name for a spelling from a flag or a training config (`Adam`, `RMSprop`, `sgd`), or undefined. */
export function parseOptimizerName(name: string): OptimizerName | undefined {
  return KERAS_SPELLINGS[name.trim().toLowerCase()];
}

export function knownOptimizers(): string {
  return OPTIMIZERS.join(', ');
}
