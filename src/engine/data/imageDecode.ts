import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../errors';

/** A decoded image: 8-bit RGBA, row-major (both decoders expand grey and palette images to RGBA). */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/**
 * Pixels above this are refused before decoding: 25 MP is 100 MB of RGBA, far above what a
 * model input needs, and a small file can claim huge dimensions (a decompression bomb).
 */
export const MAX_IMAGE_MEGAPIXELS = 25;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_START = [0xff, 0xd8, 0xff];
// jpeg-js keeps its own working buffers besides the RGBA output; this bounds them together.
const JPEG_MEMORY_MB = 4 * MAX_IMAGE_MEGAPIXELS + 64;

/** PNG or JPEG bytes (told apart by their signature, not the file name, as Keras's decode_image does). */
export function decodeImage(bytes: Uint8Array, file: string): RgbaImage {
  if (startsWith(bytes, PNG_SIGNATURE)) return decodePngBytes(bytes, file);
  if (startsWith(bytes, JPEG_START)) return decodeJpegBytes(bytes, file);
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new InputError(file, `is not a PNG or JPEG image (it starts with bytes ${head || '(none: the file is empty)'}); it may be corrupt or another format renamed`);
}

function decodePngBytes(bytes: Uint8Array, file: string): RgbaImage {
  // IHDR is always the first chunk: width and height are big-endian at bytes 16 and 20.
  if (bytes.length >= 24) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    refuseHuge(view.getUint32(16, false), view.getUint32(20, false), file);
  }
  try {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, rgba: png.data };
  } catch (error) {
    throw new InputError(file, `is a corrupt or truncated PNG (${describe(error)})`);
  }
}

function decodeJpegBytes(bytes: Uint8Array, file: string): RgbaImage {
  try {
    const image = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_MEGAPIXELS, maxMemoryUsageInMB: JPEG_MEMORY_MB });
    return { width: image.width, height: image.height, rgba: image.data };
  } catch (error) {
    const message = describe(error);
    if (/maxResolutionInMP|maxMemoryUsageInMB/.test(message)) throw new InputError(file, `is larger than ${MAX_IMAGE_MEGAPIXELS} megapixels; shrink it (${message})`);
    throw new InputError(file, `is a corrupt or truncated JPEG (${message})`);
  }
}

function refuseHuge(width: number, height: number, file: string): void {
  if (width * height > MAX_IMAGE_MEGAPIXELS * 1e6) {
    throw new InputError(file, `is ${width}×${height} pixels, more than ${MAX_IMAGE_MEGAPIXELS} megapixels; shrink it (images are resized to the model's input anyway)`);
  }
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

// jpeg-js has thrown plain strings in some versions.
function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
