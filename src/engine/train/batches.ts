import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import { seededRandom } from './random';

/**
 * Batches in a seeded shuffled order, reshuffled each epoch, so the same seed sees the same
 * examples at every step. Labels come out one-hot float32.
 */
export class BatchSampler {
  private readonly random: () => number;
  private readonly order: Int32Array;
  private position: number;
  private readonly exampleSize: number;

  constructor(
    private readonly data: Dataset,
    private readonly batchSize: number,
    seed: number,
  ) {
    this.random = seededRandom(seed);
    this.order = Int32Array.from({ length: data.size }, (_, i) => i);
    this.position = data.size;
    this.exampleSize = data.inputShape.reduce((a, b) => a * b, 1);
  }

  next(): { x: tf.Tensor; y: tf.Tensor } {
    const size = Math.min(this.batchSize, this.data.size);
    const x = new Float32Array(size * this.exampleSize);
    const y = new Float32Array(size * this.data.numClasses);
    for (let row = 0; row < size; row++) {
      if (this.position >= this.data.size) this.shuffle();
      const example = this.order[this.position++];
      x.set(this.data.x.subarray(example * this.exampleSize, (example + 1) * this.exampleSize), row * this.exampleSize);
      y[row * this.data.numClasses + this.data.y[example]] = 1;
    }
    return { x: tf.tensor(x, [size, ...this.data.inputShape]), y: tf.tensor2d(y, [size, this.data.numClasses]) };
  }

  private shuffle(): void {
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    }
    this.position = 0;
  }
}
