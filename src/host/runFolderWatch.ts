import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Reports every `*.jsonl` file that appears in, or changes in, `<root>/<levels…>` — also when
 * those folders do not exist yet. VS Code's workspace watcher (parcel's inotify backend in
 * code-server) misses files in a folder tree made after it started: `os.makedirs` of
 * `.gradient-lens/runs` creates the inner folder before the watcher has put a watch on the outer
 * one, so nothing in `runs/` is ever reported (16 of 30 trials here; the e2e watch test lost 2
 * of its first 7 runs to it). So each level gets a non-recursive watch of its own, made before
 * the level below is looked for, and the last level is read once when its watch starts: a
 * folder or file made in between is found either way. Event-driven: no polling.
 */
export function watchRunFolder(root: string, levels: readonly string[], onFile: (file: string) => void): { dispose(): void } {
  return watchLevel(root, levels, onFile, () => undefined);
}

/** `onGone`: this folder's watch failed (it was removed): the level above looks at it again. */
function watchLevel(dir: string, rest: readonly string[], onFile: (file: string) => void, onGone: () => void): { dispose(): void } {
  let child: { dispose(): void; ino: number } | undefined;
  let watcher: fs.FSWatcher | undefined;
  let closed = false;
  const dispose = () => {
    closed = true;
    child?.dispose();
    child = undefined;
    watcher?.close();
  };
  /** Watches the next level when it exists; a removed or re-made one (a new inode) is watched anew. */
  const descend = () => {
    if (closed || rest.length === 0) return;
    const next = path.join(dir, rest[0]);
    let ino: number | undefined;
    try {
      const stat = fs.statSync(next);
      if (stat.isDirectory()) ino = stat.ino;
    } catch {
      // not there (yet)
    }
    if (child && child.ino === ino) return;
    child?.dispose();
    child = undefined;
    if (ino === undefined) return;
    const level = watchLevel(next, rest.slice(1), onFile, descend);
    child = { dispose: level.dispose, ino };
  };
  try {
    watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
      if (closed) return;
      const entry = name?.toString();
      if (rest.length === 0) {
        if (entry?.endsWith('.jsonl')) onFile(path.join(dir, entry));
      } else if (entry === undefined || entry === rest[0]) {
        descend();
      }
    });
    // The folder itself was removed (inotify reports it as an error on Linux).
    watcher.on('error', () => {
      if (!closed) onGone();
    });
  } catch {
    // Gone already, or unreadable: nothing to watch here.
    closed = true;
    return { dispose };
  }
  if (rest.length === 0) {
    for (const entry of safeReaddir(dir)) if (entry.endsWith('.jsonl')) onFile(path.join(dir, entry));
  } else {
    descend();
  }
  return { dispose };
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
