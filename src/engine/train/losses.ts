import * as tf from '@tensorflow/tfjs';
import type { LossKind } from './trainingNames';

export { knownLosses, parseLossName, type LossKind } from './trainingNames';

/** What the model's last layer squashes its output with, so losses can work on the values before it. */
export type OutputSquash = 'softmax' | 'sigmoid' | 'none' | 'other';

/** True when this loss is computed from the pre-squash values (logits) for this output. */
export function lossUsesLogits(loss: LossKind, squash: OutputSquash): boolean {
  if (loss === 'mean_squared_error') return false;
  if (loss === 'binary_crossentropy') return squash === 'sigmoid' || squash === 'none';
  return squash === 'softmax' || squash === 'none';
}

/**
 * The mean loss over the batch. With logits, the cross-entropies use TF.js's logit forms:
 * the probability forms clip at 1e-7, which zeroes the gradient of an exploding net and makes
 * it look vanished (FACTS.md "Trap"). `labels` is one-hot float32.
 */
export function computeLoss(loss: LossKind, labels: tf.Tensor, output: tf.Tensor, fromLogits: boolean): tf.Scalar {
  switch (loss) {
    case 'categorical_crossentropy':
    case 'sparse_categorical_crossentropy':
      return fromLogits
        ? tf.losses.softmaxCrossEntropy(labels, output)
        : tf.mean(tf.metrics.categoricalCrossentropy(labels, output)) as tf.Scalar;
    case 'binary_crossentropy':
      return fromLogits
        ? tf.losses.sigmoidCrossEntropy(labels, output)
        : tf.mean(tf.metrics.binaryCrossentropy(labels, output)) as tf.Scalar;
    case 'mean_squared_error':
      return tf.losses.meanSquaredError(labels, output);
  }
}
