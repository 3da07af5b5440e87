import * as tf from '@tensorflow/tfjs';
import type { OptimizerName } from '../../shared/codes';
import type { LayerStepStats, StepStats } from '../../shared/stats';
import { UsageError } from '../errors';
import { summariseGradient } from './gradientStats';
import { activationFigureCount, activationFigures, sampledElementCount, summariseActivation } from './activationStats';
import { planForward, type ForwardPlan } from './forwardPlan';
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

const DROPOUT_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

/**
 * Trains a model one batch at a time. `stepInstrumented` gathers everything it reports (loss,
 * weight and update norms, reduced activation figures, the kernel gradients) into one tensor
 * read back with a single `dataSync`, and derives the per-layer figures in plain JS.
 */
export class Trainer {
  readonly instrumentedLayers: string[];
  private readonly plan: ForwardPlan;
  private readonly optimizer: tf.Optimizer;
  private readonly lossKind: LossKind;
  private readonly noiseLayers: Array<tf.layers.Layer & { seed?: number }>;
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
    const weightsBefore = layers.map((layer) => tf.clone(layer.variable));
    const gradients = layers.map((layer) => grads[layer.variable.name] ?? tf.zerosLike(layer.variable));
    const clipped = this.clip(grads);
    this.optimizer.applyGradients(clipped);
    const readBack = tf.tidy(() => {
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(outputs[0], -1), tf.argMax(y, -1)), 'float32'));
      const weightFigures = layers.flatMap((layer, i) => [tf.sum(tf.square(weightsBefore[i])), tf.sum(tf.squaredDifference(layer.variable, weightsBefore[i]))]);
      const head = tf.stack([value, correct, ...weightFigures]);
      const activations = layers.map((layer) => activationFigures(outputs[layer.activationIndex], layer.activationKind));
      return tf.concat([head, ...activations, ...gradients.map((g) => g.reshape([-1]))]);
    });
    const data = readBack.dataSync() as Float32Array;

    const stats = this.unpack(data, step, x.shape[0], outputs);
    tf.dispose([value, readBack, ...weightsBefore, ...outputs]);
    tf.dispose(gradients);
    tf.dispose(grads);
    if (clipped !== grads) tf.dispose(clipped);
    return stats;
  }

  dispose(): void {
    this.plan.restore();
    this.optimizer.dispose();
  }

  private unpack(data: Float32Array, step: number, batchSize: number, outputs: tf.Tensor[]): StepStats {
    const layers = this.plan.instrumented;
    let activationOffset = 2 + 2 * layers.length;
    let gradientOffset = activationOffset + layers.reduce((n, layer) => n + activationFigureCount(outputs[layer.activationIndex], layer.activationKind), 0);
    const layerStats: LayerStepStats[] = layers.map((layer, i) => {
      const weightL2 = Math.sqrt(data[2 + 2 * i]);
      const updateL2 = Math.sqrt(data[3 + 2 * i]);
      const activation = outputs[layer.activationIndex];
      const activationEnd = activationOffset + activationFigureCount(activation, layer.activationKind);
      const activationSummary = summariseActivation(data.subarray(activationOffset, activationEnd), sampledElementCount(activation), layer.activationKind);
      activationOffset = activationEnd;
      const gradientSummary = summariseGradient(data.subarray(gradientOffset, gradientOffset + layer.variable.size));
      gradientOffset += layer.variable.size;
      return {
        layer: layer.name,
        ...gradientSummary,
        weightL2,
        updateRatio: weightL2 > 0 ? updateL2 / weightL2 : 0,
        ...activationSummary,
      };
    });
    return { step, loss: data[0], accuracy: data[1] / batchSize, layers: layerStats };
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
