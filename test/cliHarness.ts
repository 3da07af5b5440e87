import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const cliPath = path.join(repoRoot, 'dist', 'cli.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`dist/cli.js`) as a user would, from the repository root. */
export function runCli(args: string[], timeoutMs = 120_000): CliResult {
  const result = spawnSync(process.execPath, [cliPath, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, GRADIENT_LENS_DEBUG: '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
