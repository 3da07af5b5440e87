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
import { setBatchNormExchange } from '../kernels/batchNormLoops';
import { Command, splitRows, type ReplicaLink } from './replicaGroup';

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

interface Replicas {
  link: ReplicaLink;
  onDispose?: () => void;
  /** Rank 0: the storage of every model weight after the group's last step (see `syncReplicaWeights`). */
  weightStorage?: tf.DataId[];
}

export interface ReplicaOutcome {
  /** The whole batch's loss. */
  loss: number;
  /** Rank 0, instrumented steps: the step's statistics. */
  stats?: StepStats;
  /** Forward + backward only: the whole batch's gradients, trainable variables in order. */
  gradients?: Float32Array[];
}

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
  /** Set when this trainer is one replica of a data-parallel group (see dataParallel.ts). */
  private replicas?: Replicas;
  /** Kept across data-parallel steps: the replicas' summed figures, the gradients as float32, rank 0's statistics. */
  private replicaSums = new Float64Array(0);
  private gradientScratch = new Float32Array(0);
  private statsScratch = new Float32Array(0);

  constructor(
    readonly model: tf.LayersModel,
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
    if (this.replicas) return this.leadReplicas(Command.StepPlain, x, y, this.plainStepsTaken++).loss;
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
    if (this.replicas) return this.leadReplicas(Command.StepInstrumented, x, y, step).stats!;
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

    const scores = outputs[0].size;
    const accuracy = batchAccuracy(data.subarray(1, 1 + scores), data.subarray(1 + scores, 1 + 2 * scores), scores / x.shape[0]);
    const stats = this.unpack(data.subarray(1 + 2 * scores), step, data[0], accuracy, outputs, kernelsBeforeKnown);
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
    const replicas = this.replicas;
    if (replicas?.link.rank === 0) {
      replicas.link.parameters[1] = learningRate;
      replicas.link.issue(Command.SetLearningRate);
      replicas.link.barrier();
    }
  }

  dispose(): void {
    const replicas = this.replicas;
    this.replicas = undefined;
    replicas?.onDispose?.();
    this.plan.restore();
    this.optimizer.dispose();
  }

  /** Threads this trainer's steps run on: 1, or the size of its data-parallel group. */
  get threads(): number {
    return this.replicas?.link.size ?? 1;
  }

  /**
   * Makes this trainer one replica of a data-parallel group. Every replica holds the same
   * weights and optimizer state; rank 0 (the main thread) hands out each batch's rows.
   */
  joinReplicas(link: ReplicaLink, onDispose?: () => void): void {
    if (this.noiseLayers.length > 0) throw new Error('data-parallel steps would draw other dropout masks than one thread');
    this.replicas = { link, onDispose };
  }

  /** Leaves the group (the measurement found one thread faster): later steps run alone again. */
  leaveReplicas(): void {
    const replicas = this.replicas;
    this.replicas = undefined;
    replicas?.onDispose?.();
  }

  /** Rank 0: forward and backward over the whole batch on every replica, no update (the start-up measurement). */
  parallelGradientsOnly(x: tf.Tensor, y: tf.Tensor): Float32Array[] {
    return this.leadReplicas(Command.GradientsOnly, x, y, 0).gradients!;
  }

  /** Forward and backward over the whole batch on this thread alone, no update: the measurement's baseline. */
  gradientsOnly(x: tf.Tensor, y: tf.Tensor): Float32Array[] {
    const { value, grads } = tf.variableGrads(() => {
      const output = this.plan.plainModel.apply(x, { training: true }) as tf.Tensor;
      return computeLoss(this.lossKind, y, output, this.plan.fromLogits);
    }, this.plan.trainableVariables);
    const gradients = this.plan.trainableVariables.map((variable) => grads[variable.name]).filter((g): g is tf.Tensor => g !== undefined).map((g) => g.dataSync() as Float32Array);
    tf.dispose([value, ...Object.values(grads)]);
    return gradients;
  }

  /** Rank 0: every replica's weights (model.weights order, concatenated), in rank order. */
  gatherReplicaWeights(): Float64Array[] {
    const link = this.replicas!.link;
    this.syncReplicaWeights();
    link.issue(Command.GatherWeights);
    return this.publishWeights().map((values) => values.slice());
  }

  /** Every replica: publishes its weights for `gatherReplicaWeights`. */
  publishWeights(): Float64Array[] {
    const values = this.model.weights.flatMap((weight) => Array.from(weight.read().dataSync()));
    return this.replicas!.link.exchange(values);
  }

  /**
   * Rank 0's side of a data-parallel step: brings the workers' weights up to date if anything
   * replaced them since the last step (`setWeights`, the range test), writes the batch where they
   * read it, starts them, and runs its own share of the rows.
   */
  private leadReplicas(command: Command, x: tf.Tensor, y: tf.Tensor, step: number): ReplicaOutcome {
    const replicas = this.replicas!;
    const { link } = replicas;
    const rows = x.shape[0];
    if (rows < link.size) throw new Error(`a batch of ${rows} cannot be split across ${link.size} data-parallel replicas`);
    if (x.size + y.size > link.input.length) throw new Error(`a batch of ${rows} is larger than the data-parallel replicas were started for`);
    this.syncReplicaWeights();
    // On wasm the batch is read where it lies in the heap (views taken after the last
    // allocation: a heap growth detaches them), not copied out first.
    const values = (t: tf.Tensor) => (tf.getBackend() === 'wasm' ? ((tf.backend() as BackendWasm).typedArrayFromHeap(t) as Float32Array) : (t.dataSync() as Float32Array));
    link.input.set(values(x), 0);
    link.input.set(values(y), x.size);
    const p = link.parameters;
    p[1] = step;
    p[2] = rows;
    p[3] = x.rank - 1;
    x.shape.slice(1).forEach((dim, i) => (p[4 + i] = dim));
    p[16] = y.size / rows;
    link.issue(command);
    const share = splitRows(rows, link.size)[0];
    const localX = tf.slice(x, 0, share.count);
    const localY = tf.slice(y, 0, share.count);
    try {
      return this.replicaStep(command, localX, localY, rows, step);
    } catch (error) {
      link.fail((error as Error).message);
      throw error;
    } finally {
      tf.dispose([localX, localY]);
      replicas.weightStorage = this.model.weights.map((weight) => weight.read().dataId);
    }
  }

  /** Rank 0: sends every weight to the workers when one was reassigned since the group's last step. */
  private syncReplicaWeights(): void {
    const replicas = this.replicas!;
    const weights = this.model.weights;
    const unchanged = replicas.weightStorage?.every((dataId, i) => weights[i].read().dataId === dataId) ?? false;
    if (unchanged) return;
    const values = new Float32Array(weights.reduce((n, weight) => n + weight.read().size, 0));
    let offset = 0;
    for (const weight of weights) {
      const data = weight.read().dataSync() as Float32Array;
      values.set(data, offset);
      offset += data.length;
    }
    replicas.link.issue(Command.SyncWeights);
    replicas.link.exchange(values);
  }

  /** A worker: takes the weights rank 0 sends (`syncReplicaWeights`). */
  receiveReplicaWeights(): void {
    const weights = this.model.weights;
    const total = weights.reduce((n, weight) => n + weight.read().size, 0);
    const values = this.replicas!.link.exchange([], total)[0];
    let offset = 0;
    const tensors = weights.map((weight) => {
      const size = weight.read().size;
      const tensor = tf.tensor(Float32Array.from(values.subarray(offset, offset + size)), weight.shape as number[]);
      offset += size;
      return tensor;
    });
    this.model.setWeights(tensors);
    tf.dispose(tensors);
  }

  /**
   * One replica's share of a data-parallel step, the same code on every replica so their
   * barriers and exchanges line up: forward and backward on its rows, with BatchNormalization
   * exchanging per-channel sums (batchNormLoops.ts); then one exchange of the loss (weighted by
   * the rows' share of the batch, so the replicas' gradients add up to the whole batch's), the
   * correct predictions, the ReLU activations' channel maxima and every gradient. Each replica
   * adds the gradients in rank order, so all of them apply the same update to the same weights
   * and stay bit-identical. Rank 0 also derives the step's statistics.
   */
  replicaStep(command: Command, x: tf.Tensor, y: tf.Tensor, batchRows: number, step: number): ReplicaOutcome {
    const link = this.replicas!.link;
    const instrumented = command === Command.StepInstrumented;
    const share = x.shape[0] / batchRows;
    let outputs: tf.Tensor[] = [];
    setBatchNormExchange((local) => link.exchange(local));
    let value: tf.Scalar;
    let grads: tf.NamedTensorMap;
    try {
      ({ value, grads } = tf.variableGrads(() => {
        const result = (instrumented ? this.plan.tapModel : this.plan.plainModel).apply(x, { training: true });
        outputs = (Array.isArray(result) ? result : [result]).map((t) => tf.keep(t as tf.Tensor));
        return tf.mul(computeLoss(this.lossKind, y, outputs[0], this.plan.fromLogits), share) as tf.Scalar;
      }, this.plan.trainableVariables));
    } finally {
      setBatchNormExchange(undefined);
    }
    const variables = this.plan.trainableVariables;
    const present = variables.map((variable) => grads[variable.name]).filter((g): g is tf.Tensor => g !== undefined);
    const maxima = instrumented ? this.activationTaps.map((tap) => (tap.kind === 'relu' ? channelMaxima(outputs[tap.outputIndex]) : undefined)) : [];
    const presentMaxima = maxima.filter((m): m is tf.Tensor1D => m !== undefined);
    const local = this.readBackValues([whole(value), ...(instrumented ? [whole(outputs[0]), whole(y)] : []), ...presentMaxima.map(whole), ...present.map(whole)]);
    const scores = instrumented ? outputs[0].size : 0;
    const correct = instrumented ? Math.round(batchAccuracy(local.subarray(1, 1 + scores), local.subarray(1 + scores, 1 + 2 * scores), scores / x.shape[0]) * x.shape[0]) : 0;
    const figuresStart = 1 + 2 * scores;
    const maximaLength = presentMaxima.reduce((n, m) => n + m.size, 0);
    const gradientLength = present.reduce((n, g) => n + g.size, 0);
    const publishedLength = 2 + maximaLength + gradientLength;
    // Written straight into the shared slot and summed into a kept buffer: fresh arrays of the
    // gradients' size each step would be fresh memory, slow to first touch (see readBackValues).
    const published = link.nextSlot(publishedLength);
    published[0] = local[0];
    published[1] = correct;
    published.set(local.subarray(figuresStart, figuresStart + maximaLength + gradientLength), 2);
    tf.dispose([value, ...Object.values(grads)]);

    const all = link.exchangeSlots(publishedLength);
    if (this.replicaSums.length < publishedLength) this.replicaSums = new Float64Array(publishedLength);
    const combined = this.replicaSums.subarray(0, publishedLength);
    combined.fill(0);
    for (const figures of all) {
      combined[0] += figures[0];
      combined[1] += figures[1];
      for (let i = 2; i < 2 + maximaLength; i++) combined[i] = figures === all[0] ? figures[i] : Math.max(combined[i], figures[i]);
      for (let i = 2 + maximaLength; i < combined.length; i++) combined[i] += figures[i];
    }
    if (command === Command.GradientsOnly) {
      tf.dispose([...outputs, ...presentMaxima]);
      let start = 2 + maximaLength;
      const gradients = present.map((g) => Float32Array.from(combined.subarray(start, (start += g.size))));
      return { loss: combined[0], gradients };
    }

    const summed: tf.NamedTensorMap = {};
    const summedAt = new Map<tf.Variable, number>();
    // wasm copies a new tensor's values into its heap at once, so one kept buffer serves every
    // gradient; the cpu backend keeps the array it is given.
    const reusable = tf.getBackend() === 'wasm';
    if (reusable && this.gradientScratch.length < gradientLength) this.gradientScratch = new Float32Array(gradientLength);
    let offset = 2 + maximaLength;
    for (const variable of variables) {
      if (!grads[variable.name]) continue;
      const values = reusable ? this.gradientScratch.subarray(offset - 2 - maximaLength, offset - 2 - maximaLength + variable.size) : new Float32Array(variable.size);
      values.set(combined.subarray(offset, offset + variable.size));
      summed[variable.name] = tf.tensor(values, variable.shape);
      summedAt.set(variable, offset);
      offset += variable.size;
    }
    const layers = this.plan.instrumented;
    const statsOnHere = instrumented && link.rank === 0;
    const kernelsBeforeKnown = this.kernelsAfterLastStep?.storage.every((dataId, i) => layers[i].variable.dataId === dataId) ?? false;
    const kernelsBefore = statsOnHere && !kernelsBeforeKnown ? layers.map((layer) => tf.clone(layer.variable)) : [];
    const clipped = this.clip(summed);
    this.optimizer.applyGradients(clipped);
    let stats: StepStats | undefined;
    if (statsOnHere) {
      const samples = this.activationTaps.map((tap) => {
        const activation = outputs[tap.outputIndex];
        return { tensor: activation, length: activationSampleSize(activation) };
      });
      const read = this.readBackValues([...samples, ...kernelsBefore.map(whole), ...layers.map((layer) => whole(layer.variable))]);
      // The layout `unpack` reads: per tap its sample then (ReLU) the batch's channel maxima; the
      // instrumented kernels' gradients; the kernels before (unless known) and after the update.
      const kernelsSize = layers.reduce((n, layer) => n + layer.variable.size, 0);
      const samplesLength = samples.reduce((n, sample) => n + sample.length, 0);
      const dataLength = samplesLength + maximaLength + kernelsSize + (read.length - samplesLength);
      if (this.statsScratch.length < dataLength) this.statsScratch = new Float32Array(dataLength);
      // Zeros stand for a layer without a gradient, as zerosLike does on one thread.
      const data = this.statsScratch.subarray(0, dataLength).fill(0);
      let readOffset = 0;
      let maximaOffset = 2;
      let dataOffset = 0;
      this.activationTaps.forEach((_, i) => {
        data.set(read.subarray(readOffset, readOffset + samples[i].length), dataOffset);
        readOffset += samples[i].length;
        dataOffset += samples[i].length;
        const channelMaximum = maxima[i];
        if (channelMaximum) {
          data.set(combined.subarray(maximaOffset, maximaOffset + channelMaximum.size), dataOffset);
          maximaOffset += channelMaximum.size;
          dataOffset += channelMaximum.size;
        }
      });
      for (const layer of layers) {
        const at = summedAt.get(layer.variable);
        if (at !== undefined) data.set(combined.subarray(at, at + layer.variable.size), dataOffset);
        dataOffset += layer.variable.size;
      }
      data.set(read.subarray(samplesLength), dataOffset);
      stats = this.unpack(data, step, combined[0], combined[1] / batchRows, outputs, kernelsBeforeKnown);
    }
    tf.dispose([...outputs, ...presentMaxima, ...kernelsBefore, ...Object.values(summed)]);
    if (clipped !== summed) tf.dispose(Object.values(clipped));
    return { loss: combined[0], stats };
  }

  /** `data`: the activation figures, the instrumented kernels' gradients, the kernels before (unless known) and after the update. */
  private unpack(data: Float32Array, step: number, loss: number, accuracy: number, outputs: tf.Tensor[], kernelsBeforeKnown: boolean): StepStats {
    const layers = this.plan.instrumented;
    let offset = 0;
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
    return { step, loss, accuracy, layers: layerStats };
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
