/**
 * When each part of an engine's start ended, in ms since its process began (performance.now's
 * origin in Node), so that a bench can say where the time to the first finding goes: the
 * process start, loading TF.js, the backend, waiting for the request (a warm engine), the
 * model, the data. The engine writes them into its log once the run is ready.
 */
/**
 * Set in a waiting engine's environment (the extension's spare, a comparison's next candidate):
 * it loads TF.js and initialises the default backend before its start arrives (childMain.ts).
 */
export const PRELOAD_TFJS_ENV = 'GRADIENT_LENS_PRELOAD_TFJS';

/** The environment of an engine forked to wait with TF.js ready (EngineProcess's `env`). */
export function preloadTfjsEnv(): NodeJS.ProcessEnv {
  return { ...process.env, [PRELOAD_TFJS_ENV]: '1' };
}

export type StartupPhase = 'node' | 'tfjs' | 'backend' | 'request' | 'model' | 'data' | 'ready';

const marks = new Map<StartupPhase, number>();

/** The first mark of a phase counts: a warm engine's second `selectBackend` finds it done. */
export function markStartup(phase: StartupPhase): void {
  if (!marks.has(phase)) marks.set(phase, performance.now());
}

let logged = false;

/** The log line, once per process (an engine runs one analysis), parsed by `parseStartupLog` (scripts/bench.mjs reads it). */
export function startupLog(): string | undefined {
  if (logged) return undefined;
  logged = true;
  const parts = [...marks].sort((a, b) => a[1] - b[1]).map(([phase, ms]) => `${phase} ${ms.toFixed(1)}`);
  return `start-up (ms after the engine process began at ${performance.timeOrigin.toFixed(1)}): ${parts.join(', ')}`;
}

/** The engine's process start (epoch ms) and its phases' ends (ms after it), from a `startupLog` line; undefined for any other line. */
export function parseStartupLog(line: string): { originEpochMs: number; phases: Partial<Record<StartupPhase, number>> } | undefined {
  const match = /^start-up \(ms after the engine process began at ([\d.]+)\): (.*)$/.exec(line);
  if (!match) return undefined;
  const phases: Partial<Record<StartupPhase, number>> = {};
  for (const part of match[2].split(', ').filter(Boolean)) {
    const [phase, ms] = part.split(' ');
    phases[phase as StartupPhase] = Number(ms);
  }
  return { originEpochMs: Number(match[1]), phases };
}
