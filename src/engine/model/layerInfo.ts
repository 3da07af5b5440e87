import * as tf from '@tensorflow/tfjs';
import type { LayerInfo } from '../../shared/model';

/**
 * Adds what only the built model knows to the layers the locator found: trainable parameter
 * count, output shape, and whether the engine records gradient statistics for the layer.
 */
export function describeLayers(located: LayerInfo[], model: tf.LayersModel): LayerInfo[] {
  const built = new Map(model.layers.map((layer) => [layer.name, layer]));
  const inputShape = model.inputs[0]?.shape.slice(1);
  return located.map((info) => {
    const layer = built.get(info.name);
    if (!layer) {
      // TF.js keeps a Sequential model's InputLayer out of `model.layers`.
      return info.className === 'InputLayer' && inputShape
        ? { ...info, paramCount: 0, outputShape: inputShape.map((d) => d ?? -1), instrumented: false }
        : { ...info };
    }
    return { ...info, paramCount: trainableParamCount(layer), outputShape: outputShapeOf(layer), instrumented: isInstrumented(layer) };
  });
}

function trainableParamCount(layer: tf.layers.Layer): number {
  return layer.trainableWeights.reduce((sum, weight) => sum + weight.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0);
}

function outputShapeOf(layer: tf.layers.Layer): number[] | undefined {
  try {
    const shape = layer.outputShape;
    const first = Array.isArray(shape[0]) ? (shape[0] as (number | null)[]) : (shape as (number | null)[]);
    return first.slice(1).map((d) => d ?? -1);
  } catch {
    return undefined; // a shared layer called on inputs of different shapes has no single output shape
  }
}

/** Weight names that mark a layer the trainer watches: a conv/dense kernel, or BatchNormalization's gamma. */
const INSTRUMENTED_WEIGHTS = ['kernel', 'depthwise_kernel', 'gamma'];

/**
 * True for layers with a trainable kernel (or BatchNormalization's gamma). A nested model is
 * one entry here, but its inner layers are what gets watched, so it is not itself instrumented.
 */
export function isInstrumented(layer: tf.layers.Layer): boolean {
  if (layer instanceof tf.LayersModel || !layer.trainable) return false;
  return layer.trainableWeights.some((weight) => INSTRUMENTED_WEIGHTS.includes(weight.originalName.split('/').pop() ?? ''));
}
