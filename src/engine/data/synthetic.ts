import { seededRandom } from '../train/random';
import { MAX_DATASET_ELEMENTS, type Dataset } from './dataset';
import { elementCount } from './numericArray';

export const SYNTHETIC_NAME = 'synthetic';

// 1024 examples are ~3 epochs of a default run (100 steps × 32): enough variety, quick to make.
const MAX_EXAMPLES = 1024;
const MIN_EXAMPLES_PER_CLASS = 8;
const WAVES_PER_CLASS = 4;
/** Highest spatial frequency, in cycles across an axis: low enough to survive pooling. */
const MAX_CYCLES = 2;
const CLASS_OFFSET_STD = 0.3;
const NOISE_STD = 0.8;
const AMPLITUDE_JITTER = 0.3;

/**
 * A learnable classification set for any input shape: each class has a smooth prototype (a
 * sum of a few random low-frequency waves over every axis, plus a constant offset so even a
 * global-pooling net can tell classes apart); an example is its class prototype at a random
 * amplitude plus Gaussian noise. Values are about N(0, 1.3²). Same seed, same data.
 */
export function syntheticDataset(inputShape: number[], numClasses: number, seed: number): Dataset {
  const random = seededRandom(seed);
  const gaussian = gaussianFrom(random);
  const exampleSize = elementCount(inputShape);
  // Never past the data budget, and examples for at most MAX_EXAMPLES classes: a head of 65,536
  // classes with 8 examples each was half a billion values and 40 s of generating. A short run
  // sees a few hundred examples anyway; the classes without any still get gradients.
  const classesWithExamples = syntheticClassesWithExamples(exampleSize, numClasses);
  const size = syntheticExampleCount(exampleSize, numClasses);
  // Made in class order before the examples, as before, so the same seed keeps giving the same data.
  const prototypes = Array.from({ length: classesWithExamples }, () => classPrototype(inputShape, random, gaussian));

  const x = new Float32Array(size * exampleSize);
  const y = new Int32Array(size);
  for (let example = 0; example < size; example++) {
    const label = example % classesWithExamples;
    const amplitude = 1 + AMPLITUDE_JITTER * (2 * random() - 1);
    const prototype = prototypes[label];
    const offset = example * exampleSize;
    for (let i = 0; i < exampleSize; i++) x[offset + i] = amplitude * prototype[i] + NOISE_STD * gaussian();
    y[example] = label;
  }
  return { name: SYNTHETIC_NAME, inputShape, numClasses, size, x, y, fromBytes: false };
}

/** How many examples `syntheticDataset` makes: the memory estimate counts them before the model is built. */
function syntheticClassesWithExamples(exampleSize: number, numClasses: number): number {
  return Math.min(numClasses, MAX_EXAMPLES, Math.max(1, Math.floor(MAX_DATASET_ELEMENTS / exampleSize)));
}

/** Examples the synthetic set holds for this shape and class count (the memory estimate counts them too). */
export function syntheticExampleCount(exampleSize: number, numClasses: number): number {
  const fitting = Math.max(1, Math.floor(MAX_DATASET_ELEMENTS / exampleSize));
  return Math.min(fitting, Math.max(syntheticClassesWithExamples(exampleSize, numClasses) * MIN_EXAMPLES_PER_CLASS, Math.min(MAX_EXAMPLES, fitting)));
}

function classPrototype(shape: number[], random: () => number, gaussian: () => number): Float32Array {
  const size = elementCount(shape);
  const pattern = new Float32Array(size);
  for (let wave = 0; wave < WAVES_PER_CLASS; wave++) {
    // Cycles per axis; an axis of extent 1 contributes nothing whatever its frequency.
    const cycles = shape.map(() => MAX_CYCLES * (2 * random() - 1));
    const phase = 2 * Math.PI * random();
    const weight = gaussian();
    for (let flat = 0; flat < size; flat++) {
      let angle = phase;
      let rest = flat;
      for (let axis = shape.length - 1; axis >= 0; axis--) {
        const index = rest % shape[axis];
        rest = (rest - index) / shape[axis];
        angle += (2 * Math.PI * cycles[axis] * index) / shape[axis];
      }
      pattern[flat] += weight * Math.sin(angle);
    }
  }
  standardise(pattern);
  const offset = CLASS_OFFSET_STD * gaussian();
  for (let i = 0; i < size; i++) pattern[i] += offset;
  return pattern;
}

function standardise(values: Float32Array): void {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let variance = 0;
  for (const v of values) variance += (v - mean) ** 2;
  const std = Math.sqrt(variance / values.length) || 1;
  for (let i = 0; i < values.length; i++) values[i] = (values[i] - mean) / std;
}

/** Box–Muller over the seeded uniform generator, using both values of each pair (noise dominates the cost). */
function gaussianFrom(random: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}
