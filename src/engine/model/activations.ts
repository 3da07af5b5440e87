import * as tf from '@tensorflow/tfjs';

/**
 * Keras has an `exponential` activation that TF.js lacks: without it such a file fails with
 * "Unknown activation: exponential" (FACTS.md). TF.js looks activations up by `className` in
 * its serialization map, so registering a Serializable with `apply` is enough.
 */
class Exponential extends tf.serialization.Serializable {
  static className = 'exponential';
  apply(x: tf.Tensor): tf.Tensor {
    return tf.exp(x);
  }
  getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

let registered = false;

export function registerMissingActivations(): void {
  if (registered) return;
  tf.serialization.registerClass(Exponential);
  registered = true;
}
