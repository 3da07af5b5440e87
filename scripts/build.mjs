// Builds the three bundles (extension host, engine + CLI, webview), copies the wasm binaries
// next to the engine bundle, and compiles everything (tests included) with tsc into out/ for
// `node --test`. A wrong import fails here: the engine and webview bundles do not mark
// `vscode` external, and the webview bundle targets the browser.
import * as esbuild from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const watch = process.argv.includes('--watch');
const skipTsc = process.argv.includes('--no-tsc');

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const common = { bundle: true, sourcemap: true, logLevel: 'warning', absWorkingDir: root };
const nodeCommon = {
  ...common,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // tfjs-node is optional (its install downloads libtensorflow and fails offline); it is
  // required lazily at run time and must stay out of the bundle.
  external: ['@tensorflow/tfjs-node'],
  // jsonc-parser's UMD build requires its own files at run time, which a bundle cannot
  // resolve; its ESM build bundles cleanly.
  alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
};

const builds = [
  { ...nodeCommon, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', external: ['vscode', '@tensorflow/tfjs-node'] },
  { ...nodeCommon, entryPoints: ['src/engine/childMain.ts'], outfile: 'dist/engine.js' },
  { ...nodeCommon, entryPoints: ['src/engine/cli.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // Data-parallel steps start it as a worker thread from next to the engine bundle.
  { ...nodeCommon, entryPoints: ['src/engine/train/replicaWorker.ts'], outfile: 'dist/replicaWorker.js' },
  { ...common, platform: 'browser', target: 'es2022', format: 'iife', alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' }, entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js' },
].filter((b) => existsSync(path.join(root, b.entryPoints[0])));

const wasmDir = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
for (const f of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) {
  copyFileSync(path.join(wasmDir, f), path.join(dist, f));
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  if (!skipTsc) {
    rmSync(path.join(root, 'out'), { recursive: true, force: true });
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
  }
}
