import { assertNever, ENGINE_PROTOCOL_VERSION, SIGTERM_EXIT_CODE, type EngineToHostMessage, type HostToEngineMessage, type StartMessage } from '../shared/engineProtocol';
import type { EngineSink } from './analyze';
import { trainsWithTfjs } from './modelKind';
import { markStartup, PRELOAD_TFJS_ENV } from './startupPhases';
import { describeFailure } from './train/failure';

// The engine child process (dist/engine.js), forked by EngineProcess. It runs one analysis per
// process: memory from a big model goes back to the system when the process exits.

// The process is up and the bundle parsed (TF.js not loaded yet: see analysisFor).
markStartup('node');

/**
 * The analysis for this model file, loaded when the start request names it: a PyTorch file never
 * loads TF.js, which is 0.6 s of the engine's 0.8 s start here (the bundle wraps a `require`d
 * module in a lazy initialiser, so nothing of the TF.js path runs until it is required).
 */
function analysisFor(modelPath: string): (path: string, options: StartMessage['options'], sink: EngineSink, signal: AbortSignal) => Promise<unknown> {
  if (!trainsWithTfjs(modelPath)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('./pytorch/analyzeTorch') as typeof import('./pytorch/analyzeTorch')).analyzeTorch;
  }
  return loadTfjsAnalysis();
}

function loadTfjsAnalysis(): typeof import('./analyze').analyze {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
  // TF.js's console notices ("install tfjs-node…") would only reach a log nobody reads.
  tf.env().set('PROD', true);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { analyze } = require('./analyze') as typeof import('./analyze');
  markStartup('tfjs');
  return analyze;
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
  markStartup('request');
  try {
    if (start.protocolVersion !== ENGINE_PROTOCOL_VERSION) {
      throw new Error(`the extension speaks engine protocol ${start.protocolVersion}, this engine ${ENGINE_PROTOCOL_VERSION}; reinstall the extension`);
    }
    await preloading;
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

/** A waiting engine's head start (below); `run` waits for it, so the two never initialise a backend at once. */
let preloading: Promise<void> = Promise.resolve();

// A waiting engine (a comparison's next candidate, forked while the previous one trains; the
// extension's spare) loads TF.js, initialises the default backend, decodes the default data and
// takes one throwaway training step before its start arrives: what a cold engine spends on them
// after Analyze (`npm run bench`, first-finding phases).
if (process.env[PRELOAD_TFJS_ENV] === '1') {
  preloading = new Promise<void>((resolve) => setImmediate(resolve))
    .then(async () => {
      if (started) return;
      loadTfjsAnalysis();
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      await (require('./backend') as typeof import('./backend')).selectBackend('auto');
      markStartup('backend');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      await (require('./data/fashionMnist') as typeof import('./data/fashionMnist')).prefetchFashionMnist();
      if (started) return;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('./train/warmUp') as typeof import('./train/warmUp')).warmUpTraining();
    })
    // The run meets the same failure when it selects its backend, and reports it there.
    .catch(() => undefined);
}

// The host went away (window closed, extension host crashed): nobody wants the result.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(SIGTERM_EXIT_CODE));
// The CLI's engine shares its terminal, so Ctrl+C reaches both: the CLI sends `cancel`, and
// the run ends after the current step with its report.
process.on('SIGINT', () => undefined);
