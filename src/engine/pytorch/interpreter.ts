import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

/** The interpreter used when neither `--python` nor the settings name one. */
export const DEFAULT_PYTHON = 'python3';
/**
 * Debian's `python3-torch` imports only from the system interpreter, while the `python3` first on
 * PATH is often a pyenv / conda one without torch (FACTS.md, "Python on these machines").
 */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export type TorchProbe = { kind: 'ok'; executable: string } | { kind: 'no-torch'; executable: string } | { kind: 'missing' } | { kind: 'failed'; message: string };

// `find_spec` locates torch without importing it (tens of milliseconds instead of seconds); a
// broken installation still fails later, in the trainer, with its own message.
const PROBE = 'import sys, importlib.util as u; print(sys.executable); print(u.find_spec("torch") is not None)';
const PROBE_TIMEOUT_MS = 20_000;

export function probeTorch(python: string): Promise<TorchProbe> {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE], { timeout: PROBE_TIMEOUT_MS, windowsHide: true }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') return resolve({ kind: 'missing' });
        return resolve({ kind: 'failed', message: (stderr.trim().split('\n').pop() ?? error.message).trim() || error.message });
      }
      const [executable, found] = stdout.trim().split('\n');
      resolve({ kind: found?.trim() === 'True' ? 'ok' : 'no-torch', executable: executable?.trim() ?? python });
    });
  });
}

/** `python3` → the file PATH resolves it to, so the message says which `python3` it was. */
export function whichExecutable(command: string, envPath = process.env.PATH ?? ''): string | undefined {
  if (command.includes('/') || command.includes(path.sep)) return command;
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

export class InterpreterError extends Error {
  override name = 'InterpreterError';
}

function named(python: string): string {
  const resolved = whichExecutable(python);
  return resolved && resolved !== python ? `${python} (${resolved})` : python;
}

const HOW_TO_SET = 'set --python / gradientLens.pythonPath to an interpreter that has torch';

/**
 * The interpreter to train with. One the user named is used as is (or refused); the default
 * `python3` falls back to `/usr/bin/python3` when it has no torch. Throws `InterpreterError`
 * with one line naming the interpreter.
 */
export async function chooseInterpreter(requested: string | undefined, probe: (python: string) => Promise<TorchProbe> = probeTorch): Promise<string> {
  const python = requested?.trim() || DEFAULT_PYTHON;
  // The fallback is probed at the same time: a pyenv shim alone takes 0.1–0.3 s to answer.
  const fallback = !requested && python !== SYSTEM_PYTHON ? probe(SYSTEM_PYTHON) : undefined;
  const first = await probe(python);
  if (first.kind === 'ok') return python;
  if (first.kind === 'missing') {
    if (fallback && (await fallback).kind === 'ok') return SYSTEM_PYTHON;
    throw new InterpreterError(`the Python interpreter ${python} was not found; ${HOW_TO_SET}`);
  }
  if (first.kind === 'failed') throw new InterpreterError(`the Python interpreter ${named(python)} did not run: ${first.message}`);
  if (fallback) {
    const system = await fallback;
    if (system.kind === 'ok') return SYSTEM_PYTHON;
    const debianHint = system.kind === 'no-torch' ? `; ${SYSTEM_PYTHON} has none either (on Debian/Ubuntu: apt-get install python3-torch)` : '';
    throw new InterpreterError(`${named(python)} has no torch: No module named 'torch'${debianHint}; ${HOW_TO_SET}`);
  }
  const debianHint = python === SYSTEM_PYTHON ? ' (on Debian/Ubuntu: apt-get install python3-torch)' : '';
  throw new InterpreterError(`${named(python)} has no torch: No module named 'torch'${debianHint}; ${HOW_TO_SET}`);
}
