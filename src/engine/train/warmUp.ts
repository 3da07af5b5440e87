import * as tf from '@tensorflow/tfjs';
import { referenceNetwork } from '../reference/networks';
import { Trainer } from './trainer';

const BATCH = 32;

/**
 * One instrumented step of the small reference CNN on made-up data, thrown away. A process's
 * first training step costs several times a later one (the JavaScript of the tape, the kernels
 * and the instrumentation is compiled then; the wasm kernels set up), whatever the network: a
 * waiting engine pays it before its request arrives (`npm run bench`, first-finding phases).
 * Everything it allocates is freed, and it draws no random numbers the run would see (seeded
 * initializers and data; no dropout).
 */
export function warmUpTraining(): void {
  const model = referenceNetwork('small-cnn').build(1);
  const trainer = new Trainer(model, { optimizer: 'adam', learningRate: 1e-3, loss: 'categorical_crossentropy', seed: 1 });
  const [x, y] = tf.tidy(() => [tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 1), tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 2), 10).toFloat()]);
  try {
    trainer.stepInstrumented(x, y, 0);
  } finally {
    tf.dispose([x, y]);
    trainer.dispose();
    model.dispose();
  }
}
