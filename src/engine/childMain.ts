import { assertNever, ENGINE_PROTOCOL_VERSION, type EngineToHostMessage, type HostToEngineMessage, type StartMessage } from '../shared/engineProtocol';
import type { EngineSink } from './analyze';
import { isKerasSourceFile } from './keras/kerasSource';
import { isPytorchModelPath } from './pytorch/modelPath';
import { describeFailure } from './train/failure';

// The engine child process (dist/engine.js), forked by EngineProcess. It runs one analysis per
// process: memory from a big model goes back to the system when the process exits.

/**
 * The analysis for this model file, loaded when the start request names it: a PyTorch file never
 * loads TF.js, which is 0.6 s of the engine's 0.8 s start here (the bundle wraps a `require`d
 * module in a lazy initialiser, so nothing of the TF.js path runs until it is required).
 */
function analysisFor(modelPath: string): (path: string, options: StartMessage['options'], sink: EngineSink, signal: AbortSignal) => Promise<unknown> {
  // A `.py` that builds a Keras model is exported by the user's Keras and trained with TF.js (analyze).
  if (isPytorchModelPath(modelPath) && !isKerasSourceFile(modelPath)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('./pytorch/analyzeTorch') as typeof import('./pytorch/analyzeTorch')).analyzeTorch;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
  // TF.js's console notices ("install tfjs-node…") would only reach a log nobody reads.
  tf.env().set('PROD', true);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./analyze') as typeof import('./analyze')).analyze;
}

const cancellation = new AbortController();
let started = false;

function send(msg: EngineToHostMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

function peakMemoryLog(): EngineToHostMessage {
  return { type: 'log', message: `engine peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB` };
}

async function run(start: StartMessage): Promise<void> {
  try {
    if (start.protocolVersion !== ENGINE_PROTOCOL_VERSION) {
      throw new Error(`the extension speaks engine protocol ${start.protocolVersion}, this engine ${ENGINE_PROTOCOL_VERSION}; reinstall the extension`);
    }
    await analysisFor(start.modelPath)(start.modelPath, start.options, (msg) => void send(msg), cancellation.signal);
  } catch (error) {
    // Before the error: the host listens no further. A refused model shows it was never allocated.
    await send(peakMemoryLog());
    await send(describeFailure(error, start.modelPath));
  }
  // Let the last message leave the IPC channel before the process goes away.
  await send(peakMemoryLog());
  process.disconnect?.();
  process.exit(0);
}

process.on('message', (msg: HostToEngineMessage) => {
  switch (msg.type) {
    case 'start':
      if (started) return;
      started = true;
      void run(msg);
      return;
    case 'cancel':
      cancellation.abort();
      return;
    default:
      assertNever(msg);
  }
});

// A comparison's candidate engine is forked while the previous candidate trains: it loads TF.js
// then, not when its start arrives (0.6 s of the engine's start, see analysisFor).
if (process.env.GRADIENT_LENS_PRELOAD_TFJS === '1') {
  setImmediate(() => {
    if (started) return;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs')).env().set('PROD', true);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('./analyze');
  });
}

// The host went away (window closed, extension host crashed): nobody wants the result.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(143));
// The CLI's engine shares its terminal, so Ctrl+C reaches both: the CLI sends `cancel`, and
// the run ends after the current step with its report.
process.on('SIGINT', () => undefined);
