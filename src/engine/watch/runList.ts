import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RUN_FILE_FORMAT, type RunCloseRecord, type RunHeader } from '../../shared/runFile';

/** What the editor lists of a run file without reading it whole: its header and its last line. */
export interface RunSummary {
  path: string;
  script: string;
  startedAt: number;
  worldSize: number;
  /** `live`: no close record and the writing process is still running on this machine. */
  state: 'live' | 'completed' | 'failed' | 'ended abnormally';
  modifiedMs: number;
}

/** Bytes read at each end: a header with a few hundred layers, and one last record. */
const HEAD_BYTES = 1 << 20;
const TAIL_BYTES = 1 << 16;

/**
 * Reads a run file's first line and last complete line. Undefined when it is not a run file
 * (yet): an empty file, one whose header is still being written, another kind of `.jsonl`.
 */
export async function summarizeRun(file: string, isAlive: (pid: number) => boolean = processAlive): Promise<RunSummary | undefined> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const stat = await handle.stat();
    const head = Buffer.alloc(Math.min(HEAD_BYTES, stat.size));
    await handle.read(head, 0, head.length, 0);
    const firstLine = head.toString('utf8').split('\n', 1)[0];
    const header = JSON.parse(firstLine) as Partial<RunHeader>;
    if (header.type !== 'header' || header.format !== RUN_FILE_FORMAT) return undefined;
    const tailStart = Math.max(0, stat.size - TAIL_BYTES);
    const tail = Buffer.alloc(stat.size - tailStart);
    await handle.read(tail, 0, tail.length, tailStart);
    const lines = tail.toString('utf8').split('\n').filter((line) => line.trim() !== '');
    let close: Partial<RunCloseRecord> | undefined;
    for (const line of lines.slice(-2).reverse()) {
      try {
        const record = JSON.parse(line) as Partial<RunCloseRecord>;
        if (record.type === 'close') close = record;
        break;
      } catch {
        // The last line cut off mid-write: the one before it decides.
      }
    }
    const state: RunSummary['state'] = close
      ? close.status === 'failed' ? 'failed' : 'completed'
      : typeof header.pid === 'number' && isAlive(header.pid) ? 'live' : 'ended abnormally';
    return {
      path: file,
      script: header.script ? path.basename(header.script) : path.basename(file),
      startedAt: header.startedAt ?? stat.mtimeMs / 1000,
      worldSize: header.worldSize ?? 1,
      state,
      modifiedMs: stat.mtimeMs,
    };
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** Whether a process of this id runs here (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
