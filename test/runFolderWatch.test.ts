// The host's own watch of `.gradient-lens/runs/`: a run folder made after the watch started (as
// `os.makedirs` makes it, both levels at once) is followed, which VS Code's workspace watcher in
// code-server missed (src/host/runFolderWatch.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { watchRunFolder } from '../src/host/runFolderWatch';

const LEVELS = ['.gradient-lens', 'runs'];

function waitUntil(what: string, done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (done()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(check, 20);
    };
    check();
  });
}

test('a run file in a folder tree made at once after the watch started is reported, 30 times of 30', async () => {
  for (let trial = 0; trial < 30; trial++) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gl-runwatch-'));
    const seen = new Set<string>();
    const watch = watchRunFolder(root, LEVELS, (file) => seen.add(file));
    try {
      const dir = path.join(root, ...LEVELS);
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `run-${trial}.jsonl`);
      fs.writeFileSync(file, '{"type":"header"}\n');
      await waitUntil(`trial ${trial}: ${file} reported`, () => seen.has(file));
      // Appends are reported too: the announcement waits for a header that may come later.
      seen.clear();
      fs.appendFileSync(file, '{"type":"step"}\n');
      await waitUntil(`trial ${trial}: the append reported`, () => seen.has(file));
    } finally {
      watch.dispose();
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
});

test('files already there are reported when the watch starts; a removed and re-made run folder is watched again', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gl-runwatch-'));
  const dir = path.join(root, ...LEVELS);
  fs.mkdirSync(dir, { recursive: true });
  const before = path.join(dir, 'before.jsonl');
  fs.writeFileSync(before, '{}\n');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a run');
  const seen = new Set<string>();
  const watch = watchRunFolder(root, LEVELS, (file) => seen.add(file));
  try {
    assert.deepEqual([...seen], [before], 'the run file already there, and nothing else');
    fs.rmSync(path.join(root, '.gradient-lens'), { recursive: true });
    await new Promise((resolve) => setTimeout(resolve, 100));
    fs.mkdirSync(dir, { recursive: true });
    const after = path.join(dir, 'after.jsonl');
    fs.writeFileSync(after, '{}\n');
    await waitUntil('the run file in the re-made folder', () => seen.has(after));
  } finally {
    watch.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a workspace folder that cannot be watched reports nothing and throws nothing', () => {
  const watch = watchRunFolder(path.join(os.tmpdir(), 'gl-runwatch-does-not-exist'), LEVELS, () => assert.fail('no file'));
  watch.dispose();
});
