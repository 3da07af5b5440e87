import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { channelAxis } from '../kernels/batchNormTraining';
import { ACTIVATION_SAMPLE_EXAMPLES } from './activationStats';
import { allocateGroupMemory, Command, ReplicaLink } from './replicaGroup';
import type { ReplicaWorkerData } from './replicaWorker';
import { Trainer, type TrainerOptions } from './trainer';

/**
 * Data-parallel training steps (README "Speed"): each batch split across the main thread and
 * worker threads, each with its own single-threaded wasm backend and a replica of the model,
 * meeting through shared memory (replicaGroup.ts) a fixed number of times per step: once per
 * BatchNormalization layer forward and once backward (the whole batch's statistics), once for
 * the gradients. Threads share the engine process, so they stay in its lowered priority
 * group (processPriority.ts): nice values are per thread on Linux and a worker inherits the
 * creating thread's, and the autogroup is the process's session.
 */

export interface DataParallelSettings {
  /** Replicas wanted, the main thread included; default: the cores available. */
  threads?: number;
  /** The batch size the run uses (the shared input buffer is sized for it). */
  batchSize: number;
  /** Time single-thread against data-parallel steps first and keep the faster (default true). */
  measure?: boolean;
  /** How long a replica waits at a barrier before it declares the others gone (default 60 s). */
  timeoutMs?: number;
  /** Tests only: make worker `rank` fail at `step`. */
  fault?: { rank: number; step: number; kind: 'throw' | 'exit' };
}

export interface DataParallelDecision {
  /** Threads the steps run on (1: single-thread). */
  threads: number;
  /** Why, in words for the run's log and the bench. */
  reason: string;
  /** The start-up measurement, when it ran: the fastest of forward + backward over one batch. */
  singleMs?: number;
  parallelMs?: number;
}

/** Data-parallel steps must be at least this much faster than one thread to be used. */
const REQUIRED_GAIN = 0.9;
const MEASURED_ROUNDS = 3;
const WARMUP_ROUNDS = 2;

/**
 * Threads asked for by the GRADIENT_LENS_THREADS setting: off (1) unless set, `auto` for the
 * cores available, or a number (GRADIENT_LENS_THREADS_MEASURE=off skips the start-up
 * measurement and keeps them, for tests). Off by default until data-parallel steps are measured to pay
 * on a quiet machine (README "Speed").
 */
export function threadsSetting(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 1;
  if (value.trim() === 'auto') return availableCores();
  const threads = Number(value);
  return Number.isInteger(threads) && threads >= 1 ? threads : 1;
}

export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * A trainer for `model` whose steps run data-parallel where that pays and is supported, else
 * on this thread alone; the decision says which and why. Call `trainer.dispose()` after the
 * run: it stops the worker threads (which never keep the process alive in any case).
 */
export async function createTrainer(model: tf.LayersModel, options: TrainerOptions, settings: DataParallelSettings): Promise<{ trainer: Trainer; decision: DataParallelDecision }> {
  const single = (reason: string) => ({ trainer: new Trainer(model, options), decision: { threads: 1, reason } });
  const cores = availableCores();
  const wanted = settings.threads ?? cores;
  const threads = Math.min(wanted, Math.floor(settings.batchSize / ACTIVATION_SAMPLE_EXAMPLES));
  const backend = tf.getBackend();
  if (wanted < 2) return single(`one thread (${cores} core${cores === 1 ? '' : 's'} available)`);
  if (threads < 2) return single(`one thread: a batch of ${settings.batchSize} is too small to split (at least ${ACTIVATION_SAMPLE_EXAMPLES} examples per thread)`);
  if (backend !== 'wasm' && backend !== 'cpu') return single(`one thread: data-parallel steps need the wasm or cpu backend, not ${backend}`);
  const unsupported = unsupportedLayer(model);
  if (unsupported) return single(`one thread: ${unsupported}`);
  const workerFile = path.join(__dirname, 'replicaWorker.js');
  if (!existsSync(workerFile)) return single(`one thread: ${workerFile} not found`);

  // Serialised before the Trainer's plan switches the output activation to linear: each
  // replica builds its own plan from the user's model as it was.
  let topology: string;
  try {
    topology = JSON.stringify(model.toJSON(null, false));
  } catch (error) {
    return single(`one thread: the model cannot be copied to a worker (${(error as Error).message})`);
  }
  const weights = model.weights.map((weight) => Float32Array.from(weight.read().dataSync() as Float32Array));
  const trainer = new Trainer(model, options);

  const inputShape = (model.inputs[0].shape as Array<number | null>).slice(1) as number[];
  const outputs = (model.outputs[0].shape as Array<number | null>).slice(1) as number[];
  const perExample = inputShape.reduce((n, d) => n * d, 1) + outputs.reduce((n, d) => n * d, 1);
  const weightCount = weights.reduce((n, w) => n + w.length, 0);
  const channels = model.layers.reduce((n, layer) => n + channelCount(layer), 0);
  // The largest exchange: the gradients plus loss, correct count and every channel maximum;
  // the weight broadcast; or a BatchNormalization layer's per-channel figures.
  const slotLength = weightCount + channels * 3 + 8;
  const memory = allocateGroupMemory(threads, slotLength, settings.batchSize * perExample);
  const timeoutMs = settings.timeoutMs ?? 60_000;
  const link = new ReplicaLink(memory, 0, timeoutMs);

  const workers: Worker[] = [];
  const stop = () => {
    if (!link.failure()) link.issue(Command.Stop);
    for (const worker of workers) void worker.terminate();
  };
  try {
    await Promise.all(
      Array.from({ length: threads - 1 }, (_, i) => {
        const rank = i + 1;
        const fault = settings.fault?.rank === rank ? { step: settings.fault.step, kind: settings.fault.kind } : undefined;
        const data: ReplicaWorkerData = { memory, rank, backend, topology, weights, options, timeoutMs, fault };
        const worker = new Worker(workerFile, { workerData: data });
        workers.push(worker);
        return new Promise<void>((resolve, reject) => {
          worker.once('message', (message: { type: string; message?: string }) => {
            if (message.type === 'ready') resolve();
            else reject(new Error(`replica ${rank} did not start: ${message.message}`));
          });
          worker.on('error', (error) => {
            link.fail(`data-parallel replica ${rank} (a worker thread) failed: ${error.message}`);
            reject(error);
          });
          worker.on('exit', (code) => {
            // Between steps nobody waits at a barrier; the next step then fails at once.
            link.fail(`data-parallel replica ${rank} (a worker thread) exited with code ${code}`);
            reject(new Error(`replica ${rank} exited with code ${code} while starting`));
          });
        });
      }),
    );
  } catch (error) {
    stop();
    trainer.dispose();
    return single(`one thread: the worker threads did not start (${(error as Error).message})`);
  }
  for (const worker of workers) worker.unref();
  trainer.joinReplicas(link, stop);
  if (settings.measure === false) return { trainer, decision: { threads, reason: `${threads} threads (data-parallel, not measured)` } };

  const measured = measureSpeed(trainer, model, settings.batchSize, inputShape, outputs);
  const gain = measured.parallelMs / measured.singleMs;
  const figures = `forward + backward of a batch of ${settings.batchSize}: ${measured.singleMs.toFixed(1)} ms on one thread, ${measured.parallelMs.toFixed(1)} ms on ${threads}`;
  if (gain > REQUIRED_GAIN) {
    trainer.leaveReplicas();
    return { trainer, decision: { threads: 1, reason: `one thread: data-parallel steps did not pay (${figures})`, ...measured } };
  }
  return { trainer, decision: { threads, reason: `${threads} threads, data-parallel (${figures})`, ...measured } };
}

/** Interleaved rounds of forward + backward on random data, one thread against the group; the weights are put back after. */
function measureSpeed(trainer: Trainer, model: tf.LayersModel, batchSize: number, inputShape: number[], outputs: number[]): { singleMs: number; parallelMs: number } {
  const saved = model.weights.map((weight) => tf.clone(weight.read()));
  const x = tf.randomNormal([batchSize, ...inputShape]);
  const classes = outputs[outputs.length - 1] ?? 1;
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % classes), 'int32'), classes).toFloat().reshape([batchSize, ...outputs]));
  const single: number[] = [];
  const parallel: number[] = [];
  try {
    for (let round = 0; round < WARMUP_ROUNDS + MEASURED_ROUNDS; round++) {
      for (const which of round % 2 ? ['parallel', 'single'] : ['single', 'parallel']) {
        const started = performance.now();
        if (which === 'single') trainer.gradientsOnly(x, y);
        else trainer.parallelGradientsOnly(x, y);
        const ms = performance.now() - started;
        if (round >= WARMUP_ROUNDS) (which === 'single' ? single : parallel).push(ms);
      }
    }
  } finally {
    model.setWeights(saved);
    tf.dispose([...saved, x, y]);
  }
  // The fastest rounds: another process taking a core for a moment slows one round of either
  // kind, and the two kinds must not be judged by who was unlucky.
  return { singleMs: Math.min(...single), parallelMs: Math.min(...parallel) };
}

/** Why the model cannot be trained data-parallel exactly, if it cannot. */
function unsupportedLayer(model: tf.LayersModel): string | undefined {
  for (const layer of flatLayers(model)) {
    const className = layer.getClassName();
    if (/Dropout|GaussianNoise/.test(className)) return `${layer.name} (${className}) would draw other random masks on each thread`;
    if (className === 'BatchNormalization') {
      const config = layer.getConfig() as { axis?: number | number[]; center?: boolean; scale?: boolean };
      const rank = (layer.inputSpec?.[0]?.ndim ?? (layer.input as tf.SymbolicTensor).shape.length) as number;
      // The same test as installBatchNormTraining's: only its path exchanges the statistics.
      if (channelAxis(config.axis ?? -1, rank) !== rank - 1 || config.center === false || config.scale === false) {
        return `${layer.name} (BatchNormalization over another axis than the last, or without centre or scale) has no whole-batch statistics across threads`;
      }
    }
  }
  return undefined;
}

function flatLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((layer) => (layer instanceof tf.LayersModel ? flatLayers(layer) : [layer]));
}

function channelCount(layer: tf.layers.Layer): number {
  try {
    const shape = layer.outputShape as number[] | number[][];
    const last = Array.isArray(shape[0]) ? (shape as number[][]).map((s) => s[s.length - 1]) : [(shape as number[])[shape.length - 1]];
    return last.reduce((n, c) => n + (c ?? 0), 0);
  } catch {
    return 0;
  }
}
