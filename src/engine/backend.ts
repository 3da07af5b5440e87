import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { BackendChoice } from '../shared/codes';
import { registerKernelsFor } from './kernels';

const WASM_BINARY = 'tfjs-backend-wasm-simd.wasm';

/** Why a backend could not be used, in words for the user. */
class BackendUnavailable extends Error {
  constructor(backend: string, reason: string) {
    super(`backend '${backend}' is not available: ${reason}`);
    this.name = 'BackendUnavailable';
  }
}

/**
 * Makes `choice` the active TF.js backend, registers the project's kernels for it and returns
 * the name of the backend in use ('tensorflow' | 'wasm' | 'cpu'). 'auto' takes the first that
 * works of tfjs-node, wasm, cpu; an explicit choice that cannot be used throws.
 *
 * Call it before creating any tensor: TF.js moves a cpu tensor made by `cast(int32 → float32)`
 * (e.g. `oneHot(...).toFloat()`) to wasm with its int32 bytes, so its values arrive corrupted.
 */
export async function selectBackend(choice: BackendChoice, opts: { wasmDir?: string } = {}): Promise<string> {
  const attempts: Record<Exclude<BackendChoice, 'auto'>, () => Promise<void>> = {
    tensorflow: useTensorflow,
    wasm: () => useWasm(opts.wasmDir ?? defaultWasmDir()),
    cpu: () => activate('cpu', 'TF.js could not initialise it'),
  };
  if (choice !== 'auto') {
    await attempts[choice]();
  } else {
    const failures: string[] = [];
    for (const candidate of ['tensorflow', 'wasm', 'cpu'] as const) {
      try {
        await attempts[candidate]();
        break;
      } catch (error) {
        failures.push((error as Error).message);
        if (candidate === 'cpu') throw new Error(`no TF.js backend could be initialised: ${failures.join('; ')}`);
      }
    }
  }
  const inUse = tf.getBackend();
  registerKernelsFor(inUse);
  return inUse;
}

async function useTensorflow(): Promise<void> {
  try {
    // Optional dependency: its install downloads libtensorflow and fails offline, so it may be
    // absent. Required lazily and kept out of the bundle; it registers the 'tensorflow' backend
    // with the TF.js engine, which lives on globalThis and is shared by every copy of tfjs-core.
    require('@tensorflow/tfjs-node');
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND' && err.message.includes("'@tensorflow/tfjs-node'")) {
      throw new BackendUnavailable('tensorflow', '@tensorflow/tfjs-node is not installed');
    }
    throw new BackendUnavailable('tensorflow', `@tensorflow/tfjs-node failed to load (${firstLine(err.message)})`);
  }
  await activate('tensorflow', '@tensorflow/tfjs-node loaded but its backend did not initialise');
}

async function useWasm(wasmDir: string): Promise<void> {
  if (!existsSync(path.join(wasmDir, WASM_BINARY))) {
    throw new BackendUnavailable('wasm', `${WASM_BINARY} not found in ${wasmDir}`);
  }
  // Only allowed before the wasm backend's first initialisation; later calls keep its binary.
  if (!tf.engine().registry['wasm']) setWasmPaths(wasmDir + path.sep);
  await activate('wasm', `the binaries in ${wasmDir} did not initialise`);
}

async function activate(backend: string, reason: string): Promise<void> {
  if (!tf.findBackendFactory(backend)) throw new BackendUnavailable(backend, 'it is not registered with TF.js');
  // setBackend logs and returns false when the backend's initialisation fails.
  const ok = await tf.setBackend(backend);
  if (!ok || tf.getBackend() !== backend) throw new BackendUnavailable(backend, reason);
}

/**
 * The .wasm binaries sit next to the bundle (scripts/build.mjs copies them into dist/); when the
 * engine runs unbundled (tests from out/), they are in the package's own dist folder, resolved
 * at run time from this file (a plain `require.resolve` would make esbuild try to bundle it).
 */
function defaultWasmDir(): string {
  if (existsSync(path.join(__dirname, WASM_BINARY))) return __dirname;
  return path.dirname(createRequire(__filename).resolve('@tensorflow/tfjs-backend-wasm'));
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0];
}
