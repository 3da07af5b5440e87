import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/**
 * Runs the PyTorch side of the bench and of the gradient reference (`scripts/torch/*.py`).
 * PyTorch is Debian's python3-torch: it lives in the system Python, which is not always the
 * first `python3` on PATH (pyenv and venvs shadow it), so each candidate is asked to import it.
 */
const CANDIDATE_PYTHONS = [process.env.GRADIENT_LENS_PYTHON, 'python3', '/usr/bin/python3', 'python'];

export const TORCH_INSTALL_HINT = 'PyTorch not found: install it with `apt-get install python3-torch` (Debian/Ubuntu) or `pip install torch`, or point GRADIENT_LENS_PYTHON at a Python that has it';

export interface TorchPeer {
  python: string;
  version: string;
}

export function findTorch(): TorchPeer | undefined {
  for (const python of CANDIDATE_PYTHONS) {
    if (!python) continue;
    const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) return { python, version: probe.stdout.trim() };
  }
  return undefined;
}

export function torchScriptsDir(repoRoot: string): string {
  return path.join(repoRoot, 'scripts', 'torch');
}

/** Runs one of the scripts with `input` on stdin and returns its stdout; throws with its stderr on failure. */
export function runTorchScript(peer: TorchPeer, repoRoot: string, script: string, args: string[], input = ''): string {
  const dir = torchScriptsDir(repoRoot);
  const result = spawnSync(peer.python, [path.join(dir, script), ...args], {
    cwd: dir,
    input,
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${script} exited with ${result.status}: ${result.stderr.trim()}`);
  return result.stdout;
}
