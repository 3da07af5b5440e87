import * as tf from '@tensorflow/tfjs';
import { analyseLrRange, DEFAULT_LR_SWEEP, sweepDiverged, sweepRate, type LrRangeResult, type LrSweep } from '../../shared/lrRange';
import type { ResolvedRunOptions } from '../../shared/runOptions';
import type { Dataset } from '../data/dataset';
import { BatchSampler } from './batches';
import { Trainer } from './trainer';

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The LR range test on the TF.js trainer: a fresh optimizer of the run's kind, plain steps (no
 * statistics: only the loss is read), the rate raised exponentially each step. It trains the
 * model it is given and puts every weight back afterwards (BatchNorm's moving statistics
 * included), so a caller can run it before or after the instrumented run on the same initial
 * weights. The batches are the run's own (same seed, same order), so the result repeats for a
 * seed.
 */
export async function runLrRangeTest(
  model: tf.LayersModel,
  dataset: Dataset,
  resolved: ResolvedRunOptions,
  options: { sweep?: LrSweep; signal?: AbortSignal; onPoint?: (done: number, total: number) => void } = {},
  /** ln C for a classifier's cross-entropy (the suggestion needs a loss below it); undefined for other losses. */
  chanceLoss?: number,
): Promise<LrRangeResult> {
  const sweep = options.sweep ?? DEFAULT_LR_SWEEP;
  const started = performance.now();
  const initial = model.getWeights().map((w) => w.clone());
  const trainer = new Trainer(model, {
    optimizer: resolved.optimizer,
    learningRate: sweep.startLr,
    loss: resolved.loss,
    clipNorm: resolved.clipNorm,
    clipValue: resolved.clipValue,
    seed: resolved.seed,
  });
  const sampler = new BatchSampler(dataset, resolved.batchSize, resolved.seed);
  const raw: Array<{ lr: number; loss: number }> = [];
  try {
    for (let i = 0; i < sweep.steps; i++) {
      if (options.signal?.aborted) break;
      const lr = sweepRate(sweep, i);
      trainer.setLearningRate(lr);
      const { x, y } = sampler.next();
      let loss: number;
      try {
        loss = trainer.stepPlain(x, y);
      } finally {
        x.dispose();
        y.dispose();
      }
      raw.push({ lr, loss });
      options.onPoint?.(i + 1, sweep.steps);
      if (sweepDiverged(raw.map((p) => p.loss))) break;
      await yieldToEventLoop();
    }
  } finally {
    trainer.dispose();
    model.setWeights(initial);
    tf.dispose(initial);
  }
  return analyseLrRange(raw, sweep, resolved.optimizer, resolved.learningRate, performance.now() - started, chanceLoss);
}

/** ln C for cross-entropy losses of a C-class classifier (what an untrained one scores); undefined for mean squared error. */
export function chanceLossFor(loss: string, numClasses: number): number | undefined {
  return /squared|mse/i.test(loss) ? undefined : Math.log(Math.max(2, numClasses));
}
