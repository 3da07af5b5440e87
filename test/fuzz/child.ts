import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/engine/backend';
import type { BackendChoice } from '../../src/shared/codes';
import { runOne, type Outcome } from './outcome';

/**
 * The fuzz worker: runs one case at a time for the parent, which owns the watchdog (a hang or a
 * crash cannot be caught in here). Messages: parent → {index, modelPath, backend};
 * child → {type: 'ready'} once, then {type: 'result', index, outcome, ms, tensorsLeaked}.
 */

export interface CaseRequest {
  index: number;
  modelPath: string;
  backend: BackendChoice;
}
export type ChildMessage = { type: 'ready' } | { type: 'result'; index: number; outcome: Outcome; ms: number; tensorsLeaked: number };

function send(message: ChildMessage): void {
  process.send?.(message);
}

process.on('message', (request: CaseRequest) => {
  void (async () => {
    const tensorsBefore = tf.memory().numTensors;
    const started = performance.now();
    const outcome = await runOne(request.modelPath, request.backend);
    send({ type: 'result', index: request.index, outcome, ms: performance.now() - started, tensorsLeaked: tf.memory().numTensors - tensorsBefore });
  })();
});
// Exit with the parent: an orphaned worker would keep training on a shared machine.
process.on('disconnect', () => process.exit(0));
// The backend first: tf.memory() before it would initialise TF.js's default one.
void selectBackend((process.argv[2] ?? 'wasm') as BackendChoice).then(() => send({ type: 'ready' }));
