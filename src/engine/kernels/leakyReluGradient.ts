import * as tf from '@tensorflow/tfjs';
import { activeBackendHas, LEAKY_RELU_GRAD } from './registry';

let installed = false;

/**
 * LeakyRelu's gradient through the project's one-pass kernel where the active backend has it
 * (wasm), else TF.js's own formula, unchanged. Only float32 tensors of equal shape reach the
 * kernel; anything else takes the formula too.
 */
export function installLeakyReluGradient(): void {
  if (installed) return;
  installed = true;
  tf.registerGradient({
    kernelName: 'LeakyRelu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const { alpha } = attrs as unknown as { alpha: number };
      const grad = dy as tf.Tensor;
      return {
        x: () =>
          activeBackendHas(LEAKY_RELU_GRAD) && x.dtype === 'float32' && grad.dtype === 'float32' && x.size === grad.size
            ? (tf.engine().runKernel(LEAKY_RELU_GRAD, { dy: grad, x }, { alpha }) as tf.Tensor)
            : tf.where(tf.greater(x, 0), grad, tf.mul(grad, alpha)),
      };
    },
  });
}
