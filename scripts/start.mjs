#!/usr/bin/env node
// `npm start`: the main job — analyse the shipped 10-conv sigmoid sample with the built CLI.
// The CLI exits 1 when it finds error-level problems (the contract, for CI gates); this sample
// is built to have one, so here exit 1 is the expected outcome and `npm start` succeeds on it.
// Any other non-zero code (2 bad input, 3 internal failure, a signal) still fails.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sample = "samples/vanishing-sigmoid-10conv/keras2.json";
const extra = process.argv.slice(2);
const result = spawnSync(process.execPath, [path.join(root, "dist/cli.js"), "analyze", sample, "--steps", "60", ...extra], {
  cwd: root,
  stdio: "inherit",
});
if (result.error) {
  console.error(`npm start: could not run dist/cli.js: ${result.error.message}`);
  process.exit(3);
}
if (result.signal) process.kill(process.pid, result.signal);
if (result.status === 1) {
  console.error("npm start: the sample has error-level findings, as it is built to (CLI exit code 1).");
  process.exit(0);
}
process.exit(result.status ?? 3);
