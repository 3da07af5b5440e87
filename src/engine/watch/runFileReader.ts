import { promises as fs, watch as watchFile } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { RUN_FILE_FORMAT, RUN_FILE_VERSION, type RunHeader, type RunRecord } from '../../shared/runFile';
import { InputError } from '../errors';
import { restoreNaN } from '../pytorch/trainerProcess';

/** 1 MiB reads: a 10⁶-record file streams through in constant memory (each line is parsed and dropped). */
const CHUNK_BYTES = 1 << 20;

/** A file that is not a run file this reader can read (the CLI exits 2 with its one-line message). */
export class RunFileError extends InputError {
  override name = 'RunFileError';
}

/**
 * Reads a run file incrementally, line by line, from where it last stopped: the CLI reads a
 * finished file once, `--follow` and the editor read again whenever the file grows. Only
 * complete lines are parsed; a last line without its newline waits for the rest (a live run
 * mid-write) or, once the file is known to be complete, is dropped as a truncated write.
 */
export class RunFileReader {
  private handle: FileHandle | undefined;
  private offset = 0;
  private partial = '';
  private readonly decoder = new StringDecoder('utf8');
  private line = 0;
  private headerSeen = false;
  /** True when `finish` dropped a truncated last line. */
  truncatedLastLine = false;

  constructor(readonly path: string) {}

  get bytesRead(): number {
    return this.offset;
  }

  /** Parses every complete line appended since the last call, handing each record to `onRecord` as it is read. */
  async readAvailable(onRecord: (record: RunRecord) => void): Promise<void> {
    const handle = await this.open();
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      const text = this.partial + this.decoder.write(buffer.subarray(0, bytesRead));
      let start = 0;
      for (let end = text.indexOf('\n', start); end >= 0; end = text.indexOf('\n', start)) {
        this.parseLine(text.slice(start, end), onRecord);
        start = end + 1;
      }
      this.partial = text.slice(start);
    }
  }

  /**
   * The file is complete (a finished run, or the end of what a killed one wrote): a last line
   * without a newline is parsed if it is whole JSON, else dropped as the write the process did
   * not finish. An empty file, or one without a header, is not a run file.
   */
  finish(onRecord: (record: RunRecord) => void): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest.trim() !== '') {
      let parsed = true;
      try {
        JSON.parse(rest);
      } catch {
        parsed = false;
      }
      if (parsed || !this.headerSeen) this.parseLine(rest, onRecord);
      else this.truncatedLastLine = true;
    }
    if (!this.headerSeen) {
      throw new RunFileError(this.path, this.offset === 0 ? 'is empty: a run file starts with the header gradient_lens.watch() writes' : 'has no run header: not a Gradient Lens run file');
    }
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }

  /** Resolves when the file changes (or `signal` aborts): the file system's own notification, no polling. */
  changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const watcher = watchFile(this.path, () => done());
      const onAbort = () => done();
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        watcher.close();
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      watcher.on('error', done);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Written between the last read and the watcher's start: no event will come for it.
      fs.stat(this.path).then((stat) => {
        if (stat.size > this.offset) done();
      }, done);
    });
  }

  private async open(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    try {
      const stat = await fs.stat(this.path);
      if (stat.isDirectory()) throw new RunFileError(this.path, 'is a folder, not a run file');
      this.handle = await fs.open(this.path, 'r');
      return this.handle;
    } catch (error) {
      if (error instanceof RunFileError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new RunFileError(this.path, code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (error as Error).message})`);
    }
  }

  private parseLine(raw: string, onRecord: (record: RunRecord) => void): void {
    this.line += 1;
    const text = raw.trim();
    if (text === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new RunFileError(this.path, this.headerSeen ? `line ${this.line} is not JSON: the file is damaged` : 'is not a Gradient Lens run file (its first line is not JSON)');
    }
    const record = value as Partial<RunRecord> | null;
    if (!this.headerSeen) {
      const header = record as Partial<RunHeader> | null;
      if (!header || typeof header !== 'object' || header.type !== 'header' || header.format !== RUN_FILE_FORMAT) {
        throw new RunFileError(this.path, 'is not a Gradient Lens run file (its first line is not a run header)');
      }
      if (header.protocolVersion !== RUN_FILE_VERSION) {
        throw new RunFileError(this.path, `is a run file of protocol version ${String(header.protocolVersion)}; this Gradient Lens reads version ${RUN_FILE_VERSION} (update the extension or the gradient_lens package so they match)`);
      }
      if (!Array.isArray(header.layers)) throw new RunFileError(this.path, 'has a run header without its layers');
      this.headerSeen = true;
      onRecord(header as RunHeader);
      return;
    }
    if (!record || typeof record !== 'object') throw new RunFileError(this.path, `line ${this.line} is not a run record`);
    if (record.type === 'step') {
      const stats = record.stats;
      if (!stats || typeof stats.step !== 'number' || !Array.isArray(stats.layers)) {
        throw new RunFileError(this.path, `line ${this.line} is a step record without step and layers`);
      }
      restoreNaN(stats as never);
      onRecord(record as RunRecord);
    } else if (record.type === 'close' || record.type === 'header') {
      if (record.type === 'header') throw new RunFileError(this.path, `line ${this.line} is a second run header: two runs were written into one file`);
      onRecord(record as RunRecord);
    }
    // Other record types are from a newer writer of the same version: skipped.
  }
}
