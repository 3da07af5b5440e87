import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { OptimizerName } from '../../shared/codes';
import type { LayerStepStats, StepStats } from '../../shared/stats';
import { UsageError } from '../errors';
import { summariseGradient, summariseUpdate } from './gradientStats';
import { activationFigureCount, activationSampleSize, channelMaxima, summariseActivation } from './activationStats';
import { planForward, type ActivationKind, type ForwardPlan } from './forwardPlan';
import { computeLoss, knownLosses, parseLossName, type LossKind } from './losses';
import { createOptimizer } from './optimizers';
import { deriveSeed } from './random';

export interface TrainerOptions {
  optimizer: OptimizerName;
  learningRate: number;
  loss: string;
  clipNorm?: number;
  clipValue?: number;
  seed: number;
}

/** A leading run of a tensor's values in row-major order: all of them, or a batch's first examples. */
interface ReadPiece {
  tensor: tf.Tensor;
  length: number;
}

const whole = (tensor: tf.Tensor): ReadPiece => ({ tensor, length: tensor.size });

const DROPOUT_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

/** Fraction of rows whose highest score is at the label's class (labels one-hot). */
function batchAccuracy(scores: Float32Array, labels: Float32Array, classes: number): number {
  const rows = scores.length / classes;
  let correct = 0;
  for (let row = 0; row < rows; row++) {
    let best = 0;
    let label = 0;
    for (let c = 1; c < classes; c++) {
      if (scores[row * classes + c] > scores[row * classes + best]) best = c;
      if (labels[row * classes + c] > labels[row * classes + label]) label = c;
    }
    if (best === label) correct++;
  }
  return rows > 0 ? correct / rows : 0;
}

/**
 * Trains a model one batch at a time. `stepInstrumented` gathers everything it reports (loss,
 * weight and update norms, reduced activation figures, the kernel gradients) into one tensor
 * read back once (`readBackValues`), and derives the per-layer figures in plain JS.
 */
export class Trainer {
  readonly instrumentedLayers: string[];
  private readonly plan: ForwardPlan;
  private readonly optimizer: tf.Optimizer;
  private readonly lossKind: LossKind;
  private readonly noiseLayers: Array<tf.layers.Layer & { seed?: number }>;
  /** Distinct activations read back (a conv and the BatchNormalization after it share their ReLU's). */
  private readonly activationTaps: Array<{ outputIndex: number; kind: ActivationKind }> = [];
  /** Per instrumented layer, its entry in `activationTaps`. */
  private readonly tapOfLayer: number[];
  /**
   * The kernels as read back after the last instrumented update, and the storage they were
   * read from. They are the next step's weights before its update as long as no kernel was
   * reassigned in between (a plain step, `setWeights`): `assign` gives a variable new
   * storage, so unchanged storage means unchanged values, and a step can skip reading the
   * kernels before its update.
   */
  private kernelsAfterLastStep?: { storage: tf.DataId[]; values: Float32Array };
  /** Where the wasm read-back lands, reused across steps (see `readBackValues`). */
  private readBuffer = new Float32Array(0);
  private plainStepsTaken = 0;

  constructor(
    model: tf.LayersModel,
    private readonly opts: TrainerOptions,
  ) {
    const lossKind = parseLossName(opts.loss);
    if (!lossKind) throw new UsageError(`unknown loss "${opts.loss}" (known: ${knownLosses()})`);
    if (!(opts.learningRate > 0) || !Number.isFinite(opts.learningRate)) throw new UsageError(`learning rate must be a positive number, got ${opts.learningRate}`);
    this.lossKind = lossKind;
    this.plan = planForward(model, lossKind);
    this.optimizer = createOptimizer(opts.optimizer, opts.learningRate);
    this.instrumentedLayers = this.plan.instrumented.map((layer) => layer.name);
    this.tapOfLayer = this.plan.instrumented.map(({ activationIndex, activationKind }) => {
      const known = this.activationTaps.findIndex((tap) => tap.outputIndex === activationIndex && tap.kind === activationKind);
      return known >= 0 ? known : this.activationTaps.push({ outputIndex: activationIndex, kind: activationKind }) - 1;
    });
    this.noiseLayers = model.layers.filter((layer) => DROPOUT_LAYERS.has(layer.getClassName()));
  }

  /** Forward, backward and update, no statistics: the baseline the instrumented step is measured against. */
  stepPlain(x: tf.Tensor, y: tf.Tensor): number {
    this.seedNoise(this.plainStepsTaken++);
    const { value, grads } = tf.variableGrads(() => {
      const output = this.plan.plainModel.apply(x, { training: true }) as tf.Tensor;
      return computeLoss(this.lossKind, y, output, this.plan.fromLogits);
    }, this.plan.trainableVariables);
    const clipped = this.clip(grads);
    this.optimizer.applyGradients(clipped);
    const loss = value.dataSync()[0];
    value.dispose();
    tf.dispose(grads);
    if (clipped !== grads) tf.dispose(clipped);
    return loss;
  }

  /** One training step that also returns every per-layer statistic, with one device read. */
  stepInstrumented(x: tf.Tensor, y: tf.Tensor, step: number): StepStats {
    this.seedNoise(step);
    let outputs: tf.Tensor[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const result = this.plan.tapModel.apply(x, { training: true });
      // Kept past variableGrads' scope for the statistics; released by hand below because
      // an enclosing tidy would not release them (FACTS.md).
      outputs = (Array.isArray(result) ? result : [result]).map((t) => tf.keep(t as tf.Tensor));
      return computeLoss(this.lossKind, y, outputs[0], this.plan.fromLogits);
    }, this.plan.trainableVariables);

    const layers = this.plan.instrumented;
    const kernelsBeforeKnown = this.kernelsAfterLastStep?.storage.every((dataId, i) => layers[i].variable.dataId === dataId) ?? false;
    const kernelsBefore = kernelsBeforeKnown ? [] : layers.map((layer) => tf.clone(layer.variable));
    const gradients = layers.map((layer) => grads[layer.variable.name] ?? tf.zerosLike(layer.variable));
    const clipped = this.clip(grads);
    this.optimizer.applyGradients(clipped);
    const maxima = this.activationTaps.map((tap) => (tap.kind === 'relu' ? channelMaxima(outputs[tap.outputIndex]) : undefined));
    const activationPieces = this.activationTaps.flatMap((tap, i): ReadPiece[] => {
      const activation = outputs[tap.outputIndex];
      const sample = { tensor: activation, length: activationSampleSize(activation) };
      const channelMaximum = maxima[i];
      return channelMaximum ? [sample, whole(channelMaximum)] : [sample];
    });
    // Scores, labels and kernels are small: reading them back and reducing in JS takes
    // fewer kernel dispatches than argMax/equal/sum and per-layer norms on the backend.
    const data = this.readBackValues([
      whole(value),
      whole(outputs[0]),
      whole(y),
      ...activationPieces,
      ...gradients.map(whole),
      ...kernelsBefore.map(whole),
      ...layers.map((layer) => whole(layer.variable)),
    ]);

    const stats = this.unpack(data, step, x.shape[0], outputs, kernelsBeforeKnown);
    tf.dispose([value, ...kernelsBefore, ...outputs]);
    tf.dispose(maxima.filter((m): m is tf.Tensor1D => m !== undefined));
    tf.dispose(gradients);
    tf.dispose(grads);
    if (clipped !== grads) tf.dispose(clipped);
    return stats;
  }

  /**
   * Changes the rate of the following steps (the range test's sweep). SGD and momentum keep the
   * rate as a kept scalar that only `setLearningRate` replaces; every other TF.js optimizer (and
   * the fused Adam) reads its `learningRate` field at each step.
   */
  setLearningRate(learningRate: number): void {
    // Not `instanceof`: TF.js's Optimizer.[Symbol.hasInstance] accepts any optimizer as any optimizer class.
    const optimizer = this.optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
    if (typeof optimizer.setLearningRate === 'function') optimizer.setLearningRate(learningRate);
    else optimizer.learningRate = learningRate;
  }

  dispose(): void {
    this.plan.restore();
    this.optimizer.dispose();
  }

  private unpack(data: Float32Array, step: number, batchSize: number, outputs: tf.Tensor[], kernelsBeforeKnown: boolean): StepStats {
    const layers = this.plan.instrumented;
    const scores = outputs[0].size;
    const accuracy = batchAccuracy(data.subarray(1, 1 + scores), data.subarray(1 + scores, 1 + 2 * scores), scores / batchSize);
    let offset = 1 + 2 * scores;
    const activationSummaries = this.activationTaps.map((tap) => {
      const activation = outputs[tap.outputIndex];
      const end = offset + activationFigureCount(activation, tap.kind);
      const summary = summariseActivation(data.subarray(offset, end), activation, tap.kind);
      offset = end;
      return summary;
    });
    const kernelsSize = layers.reduce((n, layer) => n + layer.variable.size, 0);
    const gradientsStart = offset;
    const kernelsAfterStart = gradientsStart + (kernelsBeforeKnown ? 1 : 2) * kernelsSize;
    const kernelsBefore = kernelsBeforeKnown ? this.kernelsAfterLastStep!.values : data.subarray(gradientsStart + kernelsSize, kernelsAfterStart);
    const kernelsAfter = data.subarray(kernelsAfterStart, kernelsAfterStart + kernelsSize);

    let kernelOffset = 0;
    const layerStats: LayerStepStats[] = layers.map((layer, i) => {
      const end = kernelOffset + layer.variable.size;
      const gradientSummary = summariseGradient(data.subarray(gradientsStart + kernelOffset, gradientsStart + end));
      const update = summariseUpdate(kernelsBefore.subarray(kernelOffset, end), kernelsAfter.subarray(kernelOffset, end));
      kernelOffset = end;
      return { layer: layer.name, ...gradientSummary, ...update, ...activationSummaries[this.tapOfLayer[i]] };
    });
    // `data` may be the reused read buffer: the kernels are copied out of it, into the
    // snapshot's own array once there is one.
    const storage = layers.map((layer) => layer.variable.dataId);
    if (this.kernelsAfterLastStep) {
      this.kernelsAfterLastStep.values.set(kernelsAfter);
      this.kernelsAfterLastStep.storage = storage;
    } else {
      this.kernelsAfterLastStep = { storage, values: kernelsAfter.slice() };
    }
    return { step, loss: data[0], accuracy, layers: layerStats };
  }

  /**
   * The step's one read: the leading `length` values of each piece, in order. Elsewhere that is
   * one concat and one `dataSync`. On wasm every kernel has run synchronously by the time its op
   * returns, so the values already sit in the wasm heap; they are copied from there into a buffer
   * this trainer keeps. That skips the slices, reshapes and concat, and wasm's `dataSync` and
   * `slice` both copy into freshly allocated arrays (`slice` the whole input, for 4 of 32
   * examples): first touching fresh memory took 3–4 ms per megabyte here, the copy 0.08 ms.
   */
  private readBackValues(pieces: ReadPiece[]): Float32Array {
    if (tf.getBackend() !== 'wasm') {
      const readBack = tf.tidy(() =>
        tf.concat(
          pieces.map(({ tensor, length }) => {
            const flat = tf.reshape(tensor, [-1]);
            return length < tensor.size ? tf.slice(flat, 0, length) : flat;
          }),
        ),
      );
      const values = readBack.dataSync() as Float32Array;
      readBack.dispose();
      return values;
    }
    const total = pieces.reduce((n, piece) => n + piece.length, 0);
    if (this.readBuffer.length < total) this.readBuffer = new Float32Array(total);
    const wasm = tf.backend() as BackendWasm;
    let offset = 0;
    for (const { tensor, length } of pieces) {
      this.readBuffer.set(wasm.typedArrayFromHeap(tensor).subarray(0, length), offset);
      offset += length;
    }
    return this.readBuffer.subarray(0, total);
  }

  /** Keras semantics: `clipnorm` bounds each gradient tensor's own norm, `clipvalue` each element. */
  private clip(grads: tf.NamedTensorMap): tf.NamedTensorMap {
    const { clipNorm, clipValue } = this.opts;
    if (clipNorm === undefined && clipValue === undefined) return grads;
    return tf.tidy(() => {
      const clipped: tf.NamedTensorMap = {};
      for (const [name, g] of Object.entries(grads)) {
        let bounded = g;
        if (clipNorm !== undefined) bounded = tf.mul(bounded, tf.minimum(1, tf.div(clipNorm, tf.add(tf.norm(bounded), 1e-12))));
        if (clipValue !== undefined) bounded = tf.clipByValue(bounded, -clipValue, clipValue);
        clipped[name] = bounded;
      }
      return clipped;
    });
  }

  /** Dropout masks differ per step but repeat across runs with the same seed. */
  private seedNoise(step: number): void {
    this.noiseLayers.forEach((layer, i) => {
      layer.seed = deriveSeed(this.opts.seed, step * 1009 + i + 1);
    });
  }
}
