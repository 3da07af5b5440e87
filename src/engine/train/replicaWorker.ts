/**
 * A data-parallel replica in a worker thread (started by dataParallel.ts): its own TF.js engine
 * and single-threaded wasm backend with the project's kernels, a copy of the model built from
 * the main thread's topology and weights, and a Trainer with the same options. It then runs
 * whatever commands rank 0 issues through the shared memory until told to stop.
 */
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { selectBackend } from '../backend';
import '../model/activations';
import { Command, ReplicaLink, splitRows, type GroupMemory } from './replicaGroup';
import { Trainer, type TrainerOptions } from './trainer';

export interface ReplicaWorkerData {
  memory: GroupMemory;
  rank: number;
  backend: 'wasm' | 'cpu';
  topology: string;
  weights: Float32Array[];
  options: TrainerOptions;
  timeoutMs: number;
  /** Tests only: fail in this way at this step. */
  fault?: { step: number; kind: 'throw' | 'exit' };
}

async function main(data: ReplicaWorkerData): Promise<void> {
  const link = new ReplicaLink(data.memory, data.rank, data.timeoutMs);
  // A worker that ends without reaching the catch below (process.exit in user code, a fault
  // test) still tells the others, who would otherwise wait at the next barrier until the timeout.
  process.on('exit', (code) => link.fail(`its thread exited with code ${code} during a run`));
  let trainer: Trainer;
  try {
    await selectBackend(data.backend);
    const model = await tf.models.modelFromJSON(JSON.parse(data.topology) as tf.serialization.ConfigDict);
    const weights = model.weights;
    if (weights.length !== data.weights.length) throw new Error(`the replica's model has ${weights.length} weights, the original ${data.weights.length}`);
    const tensors = weights.map((weight, i) => tf.tensor(data.weights[i], weight.shape as number[]));
    model.setWeights(tensors);
    tf.dispose(tensors);
    trainer = new Trainer(model, data.options);
    trainer.joinReplicas(link);
  } catch (error) {
    parentPort!.postMessage({ type: 'failed', message: (error as Error).message });
    return;
  }
  parentPort!.postMessage({ type: 'ready' });
  try {
    serve(link, trainer, data);
  } catch (error) {
    link.fail((error as Error).message);
  }
  process.removeAllListeners('exit');
  trainer.dispose();
}

function serve(link: ReplicaLink, trainer: Trainer, data: ReplicaWorkerData): void {
  const p = link.parameters;
  for (;;) {
    const command = link.nextCommand();
    switch (command) {
      case Command.Stop:
        return;
      case Command.SetLearningRate:
        trainer.setLearningRate(p[1]);
        link.barrier();
        break;
      case Command.GatherWeights:
        trainer.publishWeights();
        break;
      case Command.SyncWeights:
        trainer.receiveReplicaWeights();
        break;
      case Command.StepPlain:
      case Command.StepInstrumented:
      case Command.GradientsOnly: {
        const step = p[1];
        const rows = p[2];
        const exampleShape = Array.from({ length: p[3] }, (_, i) => p[4 + i]);
        const classes = p[16];
        const perExample = exampleShape.reduce((n, d) => n * d, 1);
        const { start, count } = splitRows(rows, link.size)[link.rank];
        if (data.fault && data.fault.step === step && command !== Command.GradientsOnly) {
          if (data.fault.kind === 'exit') process.exit(3);
          throw new Error(`fault injected at step ${step}`);
        }
        const x = tf.tensor(link.input.slice(start * perExample, (start + count) * perExample), [count, ...exampleShape]);
        const yStart = rows * perExample;
        const y = tf.tensor(link.input.slice(yStart + start * classes, yStart + (start + count) * classes), [count, classes]);
        try {
          trainer.replicaStep(command, x, y, rows, step);
        } finally {
          tf.dispose([x, y]);
        }
        break;
      }
      default:
        throw new Error(`unknown data-parallel command ${command}`);
    }
  }
}

void main(workerData as ReplicaWorkerData);
