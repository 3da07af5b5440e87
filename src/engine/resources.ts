import * as os from 'node:os';

// The engine's memory limits, in one place: the host (the extension) and the CLI fork the
// engine through EngineProcess, which applies them; the engine refuses a model whose estimate
// does not fit them (model/memoryEstimate.ts). No TF.js here: the host bundle imports it.

/** Overrides the engine's memory budget, in MB (e.g. `GRADIENT_LENS_MEMORY_MB=8192`). */
export const MEMORY_LIMIT_ENV = 'GRADIENT_LENS_MEMORY_MB';

/** A default budget of at most 4 GB: beyond that a short diagnostic run is the wrong tool (and wasm cannot hold it). */
const MAX_DEFAULT_MB = 4096;
/** Half the machine: the editor, the language servers and the user's own work need the rest. */
const DEFAULT_RAM_FRACTION = 0.5;
/** Below this the engine cannot load TF.js and train even the samples. */
const MIN_MB = 512;

/**
 * The ceiling of tfjs-backend-wasm 4.22's heap: its emscripten build grows memory on demand up
 * to `getHeapMax()` = 4294901760 bytes (65535 wasm pages, 4 GB − 64 KB), fixed in the binary.
 * Measured here: tensors fill it to about 4.0 GB, then the next allocation aborts the module
 * ("RuntimeError: Aborted()") and every later wasm call fails.
 */
export const WASM_HEAP_MAX_BYTES = 4294901760;
/**
 * What the estimate may plan for on wasm: kernels' scratch buffers (im2col, XNNPACK's packed
 * weight copies), the batch copies and malloc's fragmentation share the same heap.
 */
export const WASM_USABLE_FRACTION = 0.75;

export interface EngineLimits {
  /** The engine's memory budget in MB: its `--max-old-space-size`, and what a run may plan to use. */
  memoryMb: number;
  /** Where the number came from, for messages. */
  source: string;
}

/**
 * The budget: `override` (an option), else `GRADIENT_LENS_MEMORY_MB`, else min(4096 MB, half
 * the RAM). Never below 512 MB.
 */
export function engineLimits(override?: number, env: NodeJS.ProcessEnv = process.env, totalBytes = os.totalmem()): EngineLimits {
  const fromEnv = Number(env[MEMORY_LIMIT_ENV]);
  if (override !== undefined && override > 0) return { memoryMb: Math.max(MIN_MB, Math.floor(override)), source: 'the memory limit option' };
  if (env[MEMORY_LIMIT_ENV] !== undefined && Number.isFinite(fromEnv) && fromEnv > 0) {
    return { memoryMb: Math.max(MIN_MB, Math.floor(fromEnv)), source: MEMORY_LIMIT_ENV };
  }
  const halfRam = Math.floor((totalBytes / 1024 / 1024) * DEFAULT_RAM_FRACTION);
  return halfRam < MAX_DEFAULT_MB
    ? { memoryMb: Math.max(MIN_MB, halfRam), source: 'half the RAM' }
    : { memoryMb: MAX_DEFAULT_MB, source: 'the 4 GB default' };
}

/** Node flags of the engine child: V8's old-space limit is the budget. */
export function engineExecArgv(limits: EngineLimits): string[] {
  return [`--max-old-space-size=${limits.memoryMb}`];
}

/** The engine child's environment: the budget travels with it, so the estimate uses the same number. */
export function engineEnv(limits: EngineLimits, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, [MEMORY_LIMIT_ENV]: String(limits.memoryMb) };
}

export interface TrainingMemoryLimit {
  bytes: number;
  /** Why this number, for the refusal message: "wasm's 4 GB heap" or the budget's source. */
  reason: string;
  /** How the user raises it, when they can. */
  raisable?: string;
  /** When wasm's heap is what limits: the budget a backend outside wasm would have. */
  otherBackend?: { backend: string; bytes: number };
}

/**
 * How much one training run may plan to use on `backend`. On wasm every tensor lives in the
 * wasm heap, so the usable part of its 4 GB ceiling bounds it whatever the budget; on cpu
 * and tensorflow tensors are typed arrays or native buffers outside V8's heap, bounded by the budget.
 */
export function trainingMemoryLimit(backend: string, limits: EngineLimits = engineLimits()): TrainingMemoryLimit {
  const budget = limits.memoryMb * 1024 * 1024;
  const budgetReason = `the engine's memory budget, ${limits.source}`;
  const raisable = `${MEMORY_LIMIT_ENV}=<MB>`;
  if (backend === 'wasm') {
    const wasmUsable = Math.floor(WASM_HEAP_MAX_BYTES * WASM_USABLE_FRACTION);
    if (wasmUsable < budget) {
      return {
        bytes: wasmUsable,
        reason: `the wasm backend's heap is at most 4 GB, ${Math.round(WASM_USABLE_FRACTION * 100)} % of it for tensors`,
        otherBackend: { backend: 'cpu', bytes: budget },
      };
    }
  }
  return { bytes: budget, reason: budgetReason, raisable };
}

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
