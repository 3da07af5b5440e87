import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { KerasSourceSite } from '../../shared/diagnosis';
import { InputError } from '../errors';
import type { KerasFileContents, KerasWeights } from '../model/kerasFiles';
import { DEFAULT_PYTHON, InterpreterError, SYSTEM_PYTHON, whichExecutable } from '../pytorch/interpreter';
import { pythonPackageDir, readLines, trainerEnvironment } from '../pytorch/trainerProcess';
import { execFile } from 'node:child_process';

/**
 * A Keras model source `.py`: run in the user's own Keras by `python -m gradient_lens.keras_export`
 * (python/gradient_lens/keras_export.py) in a child with a time limit, which returns the model's
 * config, its weights and each layer's constructor call site. The interpreter is chosen as for
 * PyTorch files (`--python`, `gradientLens.pythonPath`, else `python3`, then `/usr/bin/python3`),
 * and the child reuses the PyTorch trainer's environment and line reader.
 */

/** Keras or tf.keras imported, torch not (the shared text test). */
export { importsKeras as isKerasSource } from '../../shared/kerasSource';

export interface KerasExportOptions {
  python?: string;
  entry?: string;
  seed?: number;
  importTimeoutSeconds?: number;
}

export interface KerasExport {
  contents: KerasFileContents;
  /** Layer path → where the layer was constructed in the model file. */
  sites: Record<string, KerasSourceSite & { file?: string }>;
  entry: string;
  python: string;
}

const DEFAULT_IMPORT_TIMEOUT_SECONDS = 60;
/** Importing Keras itself (and a backend) before the user's file runs: seconds on a cold disk. */
const KERAS_IMPORT_ALLOWANCE_MS = 60_000;
const HOW_TO_INSTALL = 'install it there (pip install keras h5py jax; KERAS_BACKEND=numpy, which needs jax, is enough to build the model), or set --python / gradientLens.pythonPath to an interpreter that has Keras 3';

type Probe = { kind: 'ok' } | { kind: 'no-keras'; executable: string } | { kind: 'missing' } | { kind: 'failed'; message: string };

function probeKeras(python: string): Promise<Probe> {
  const probe = 'import sys, importlib.util as u; print(sys.executable); print(u.find_spec("keras") is not None)';
  return new Promise((resolve) => {
    execFile(python, ['-c', probe], { timeout: 20_000, windowsHide: true }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') return resolve({ kind: 'missing' });
        return resolve({ kind: 'failed', message: stderr.trim().split('\n').pop() || error.message });
      }
      const [executable, found] = stdout.trim().split('\n');
      resolve(found?.trim() === 'True' ? { kind: 'ok' } : { kind: 'no-keras', executable: executable?.trim() ?? python });
    });
  });
}

/** The interpreter to export with; throws `InterpreterError` naming it, and how to install Keras. */
export async function chooseKerasInterpreter(requested: string | undefined): Promise<string> {
  const given = requested?.trim() || DEFAULT_PYTHON;
  // The child runs in the model's folder: a relative `--python .venv/bin/python` means one relative to where the user is.
  const python = given.includes('/') && !path.isAbsolute(given) ? path.resolve(given) : given;
  const first = await probeKeras(python);
  if (first.kind === 'ok') return python;
  if (!requested && python !== SYSTEM_PYTHON && (await probeKeras(SYSTEM_PYTHON)).kind === 'ok') return SYSTEM_PYTHON;
  const resolved = whichExecutable(python);
  const named = resolved && resolved !== python ? `${python} (${resolved})` : python;
  if (first.kind === 'missing') throw new InterpreterError(`the Python interpreter ${python} was not found; ${HOW_TO_INSTALL}`);
  if (first.kind === 'failed') throw new InterpreterError(`the Python interpreter ${named} did not run: ${first.message}`);
  throw new InterpreterError(`${named} cannot import keras: No module named 'keras'; ${HOW_TO_INSTALL}`);
}

interface ExportedMessage {
  type: 'exported';
  entry: string;
  config: unknown;
  weights: Record<string, Array<{ name: string; shape: number[]; data: string }>>;
  sites: Record<string, KerasSourceSite & { file?: string }>;
  kerasVersion?: string;
  backend?: string;
}
interface ExportError {
  type: 'error';
  code: string;
  message: string;
  detail?: string;
}

export async function exportKerasPython(filePath: string, options: KerasExportOptions, log: (line: string) => void = () => undefined): Promise<KerasExport> {
  const absolute = path.resolve(filePath);
  let python: string;
  try {
    python = await chooseKerasInterpreter(options.python);
  } catch (error) {
    if (error instanceof InterpreterError) throw new InputError(absolute, error.message);
    throw error;
  }
  const timeoutSeconds = options.importTimeoutSeconds ?? DEFAULT_IMPORT_TIMEOUT_SECONDS;
  const request = { path: absolute, entry: options.entry, seed: options.seed, importTimeoutSeconds: timeoutSeconds };
  const env = trainerEnvironment(pythonPackageDir(), process.env);
  // Any backend builds the model; numpy imports fastest and needs nothing beyond Keras. A user's own choice stands.
  env.KERAS_BACKEND ??= 'numpy';
  const result = await runChild(python, env, path.dirname(absolute), request, timeoutSeconds * 1000 + KERAS_IMPORT_ALLOWANCE_MS, log);
  if (result.type === 'error') throw new InputError(absolute, result.message.startsWith(`${absolute}: `) ? result.message.slice(absolute.length + 2) : result.message);
  const sites: KerasExport['sites'] = {};
  for (const [name, site] of Object.entries(result.sites)) {
    // Markers and edits go into the model file; a layer built in an imported helper module keeps no range here.
    if (site.file === undefined || path.resolve(site.file) === absolute) sites[name] = site;
  }
  return { contents: { configText: JSON.stringify(result.config, null, 2), kerasVersion: result.kerasVersion, weights: decodeWeights(result.weights) }, sites, entry: result.entry, python };
}

function decodeWeights(encoded: ExportedMessage['weights']): KerasWeights {
  const weights: KerasWeights = new Map();
  for (const [layer, list] of Object.entries(encoded)) {
    weights.set(
      layer,
      list.map((w) => {
        const bytes = Buffer.from(w.data, 'base64');
        const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        return { where: `${layer}/${w.name}`, name: w.name, shape: w.shape, values };
      }),
    );
  }
  return weights;
}

function runChild(python: string, env: NodeJS.ProcessEnv, cwd: string, request: object, limitMs: number, log: (line: string) => void): Promise<ExportedMessage | ExportError> {
  return new Promise((resolve) => {
    let message: ExportedMessage | ExportError | undefined;
    const stderrTail: string[] = [];
    const child = spawn(python, ['-m', 'gradient_lens.keras_export'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'], windowsHide: true });
    // The Python side has its own SIGALRM limit on the user's code; this one also covers a hang in Keras' import.
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    readLines(child.stdout!, (line) => log(line));
    readLines(child.stderr!, (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
      log(line);
    });
    let text = '';
    (child.stdio[3] as Readable).setEncoding('utf8');
    (child.stdio[3] as Readable).on('data', (chunk: string) => (text += chunk));
    let exited = false;
    let ended = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    const settle = () => {
      if (!exited || !ended) return;
      clearTimeout(timer);
      process.removeListener('exit', killOnExit);
      try {
        message = JSON.parse(text) as ExportedMessage | ExportError;
      } catch {
        message = undefined;
      }
      if (message) return resolve(message);
      const how = exitSignal === 'SIGKILL' ? `did not finish within ${Math.round(limitMs / 1000)} s` : exitSignal ? `was killed by ${exitSignal}` : `exited with code ${exitCode}`;
      const last = [...stderrTail].reverse().find((line) => line.trim() !== '');
      resolve({ type: 'error', code: 'died', message: `the Keras exporter (${python}) ${how} before it reported${last ? `: ${last.trim()}` : ''}` });
    };
    (child.stdio[3] as Readable).on('end', () => {
      ended = true;
      settle();
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ type: 'error', code: 'died', message: `could not start ${python}: ${error.message}` });
    });
    child.on('exit', (code, signal) => {
      exited = true;
      exitCode = code;
      exitSignal = signal;
      settle();
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(`${JSON.stringify(request)}\n`);
  });
}
