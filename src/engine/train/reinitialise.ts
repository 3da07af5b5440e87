import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from './random';

type SeedableInitializer = tf.serialization.Serializable & { apply(shape: number[], dtype?: tf.DataType): tf.Tensor };
type InitializerClass = new (config: Record<string, unknown>) => SeedableInitializer;

/** `dense_1/depthwise_kernel` → `depthwiseInitializer`, `conv2d/kernel` → `kernelInitializer`. */
function initializerProperty(weightName: string): string[] {
  const last = weightName.split('/').pop() ?? weightName;
  const camel = last.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  return [`${camel}Initializer`, `${camel.replace(/Kernel$/, '')}Initializer`];
}

/**
 * Draws every weight again from its layer's own initializer, seeded. A Keras JSON file has no
 * weights, and TF.js initializers draw from Math.random unless given a seed, so without this
 * two runs of the same file would differ. Applied only when the file carries no weights.
 */
export function reinitialiseWeights(model: tf.LayersModel, seed: number): void {
  let stream = 0;
  for (const layer of model.layers) {
    const record = layer as unknown as Record<string, unknown>;
    for (const weight of layer.weights) {
      stream++;
      const property = initializerProperty(weight.originalName).find((name) => record[name] != null);
      const initializer = property ? (record[property] as SeedableInitializer) : undefined;
      if (!initializer || !('seed' in (initializer.getConfig() as object))) continue;
      const Initializer = initializer.constructor as InitializerClass;
      const seeded = new Initializer({ ...initializer.getConfig(), seed: deriveSeed(seed, stream) });
      const values = tf.tidy(() => seeded.apply(weight.shape as number[], weight.dtype));
      weight.write(values);
      values.dispose();
    }
  }
}
