import * as tf from '@tensorflow/tfjs';
import { OPTIMIZERS, type OptimizerName } from '../../shared/codes';

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

export function createOptimizer(name: OptimizerName, learningRate: number): tf.Optimizer {
  switch (name) {
    case 'sgd':
      return tf.train.sgd(learningRate);
    case 'momentum':
      return tf.train.momentum(learningRate, 0.9);
    case 'adam':
      return tf.train.adam(learningRate);
    case 'rmsprop':
      return tf.train.rmsprop(learningRate);
    case 'adagrad':
      return tf.train.adagrad(learningRate);
    case 'adadelta':
      return tf.train.adadelta(learningRate);
    case 'adamax':
      return tf.train.adamax(learningRate);
  }
}
