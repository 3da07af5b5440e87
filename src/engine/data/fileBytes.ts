import { promises as fs } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../errors';

const GZIP_MAGIC = [0x1f, 0x8b];

/** A data file's bytes, gunzipped when the file is gzip (by its magic bytes, not its name). */
export async function readDataFile(file: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    throw new InputError(file, describeReadError(error));
  }
  if (bytes[0] !== GZIP_MAGIC[0] || bytes[1] !== GZIP_MAGIC[1]) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (error) {
    throw new InputError(file, `the gzip stream is broken or truncated (${(error as Error).message})`);
  }
}

function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EISDIR') return 'is a folder, expected a file';
  if (code === 'EACCES') return 'permission denied';
  return `cannot be read (${(error as Error).message})`;
}
