import type { Dirent } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors';
import { seededRandom } from '../train/random';
import { MAX_DATASET_ELEMENTS, type Dataset, type LoadProgress } from './dataset';
import { decodeImage } from './imageDecode';
import { writeResizedPixels } from './imageResize';
import { elementCount, formatShape } from './numericArray';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
/** Image formats Keras or a camera may give that the pure-JS decoders here do not read: refused, not skipped, so no class silently loses its examples. */
const UNSUPPORTED_IMAGE_EXTENSIONS = new Set(['.gif', '.bmp', '.webp', '.tif', '.tiff', '.heic', '.heif', '.avif', '.ico', '.svg']);

/**
 * At most this many images are read in all. A default run (100 steps × 32) sees 3200 examples,
 * so 512 is about six passes over the set, enough for gradients to settle; a 400×300 JPEG takes
 * ~20 ms to decode in pure JS here, so 512 keeps loading near 10 s (1024 would double it).
 */
const MAX_IMAGES = 512;
/** Larger files are refused before reading, so one stray file cannot exhaust memory. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export function isImageFileName(name: string): boolean {
  return !isHidden(name) && IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

/** Class folders of a data folder: the visible subfolders (`.git`, `.ipynb_checkpoints` are not classes). */
export function classFolderNames(entries: Dirent[]): string[] {
  return entries
    .filter((entry) => entry.isDirectory() && !isHidden(entry.name))
    .map((entry) => entry.name)
    .sort(compareCodePoints);
}

/**
 * Keras's image_dataset_from_directory layout: `root/<class>/**.png|jpg|jpeg`. Classes are the
 * subfolder names in sorted order (label = index, as Keras assigns them); each class gives at
 * most its share of MAX_IMAGES, chosen by `seed` from its sorted file list, so the same folder
 * and seed give the same numbers. Images of any size are resized to the model's input.
 */
export async function loadImageFolder(
  root: string,
  classNames: string[],
  inputShape: number[],
  numClasses: number,
  seed: number,
  onProgress?: LoadProgress,
): Promise<Dataset> {
  const [height, width, channels] = imageInputShape(root, inputShape);
  if (classNames.length !== numClasses) {
    const shown = classNames.length <= 12 ? classNames.join(', ') : `${classNames.slice(0, 12).join(', ')}, …`;
    throw new InputError(
      root,
      `holds ${classNames.length} class folder${classNames.length === 1 ? '' : 's'} (${shown}), but the model has ${numClasses} classes: give it one subfolder of images per class`,
    );
  }
  const exampleSize = elementCount(inputShape);
  const perClass = Math.max(1, Math.floor(Math.min(MAX_IMAGES, MAX_DATASET_ELEMENTS / exampleSize) / numClasses));
  const random = seededRandom(seed);
  const chosen: Array<{ file: string; label: number }> = [];
  for (const [label, className] of classNames.entries()) {
    const folder = path.join(root, className);
    const images = await imageFilesUnder(folder);
    if (images.length === 0) throw new InputError(folder, 'holds no PNG or JPEG images (each class folder needs at least one)');
    for (const file of sampleSorted(images, perClass, random)) chosen.push({ file, label });
  }

  const x = new Float32Array(chosen.length * exampleSize);
  const y = new Int32Array(chosen.length);
  // One file at a time: only one encoded and one decoded image are alive besides the output.
  for (const [index, { file, label }] of chosen.entries()) {
    writeResizedPixels(decodeImage(await readImageFile(file), file), height, width, channels, x, index * exampleSize);
    y[index] = label;
    onProgress?.('decoding images', index + 1, chosen.length);
  }
  return { name: root, inputShape, numClasses, size: chosen.length, x, y, fromBytes: true };
}

function imageInputShape(root: string, inputShape: number[]): [number, number, 1 | 3 | 4] {
  const [height, width, channels = 1] = inputShape;
  if (inputShape.length === 2 || (inputShape.length === 3 && (channels === 1 || channels === 3 || channels === 4))) return [height, width, channels as 1 | 3 | 4];
  throw new InputError(
    root,
    `is a folder of images, but the model's input ${formatShape(inputShape)} is not an image shape (height, width[, 1 | 3 | 4 channels last]); use IDX or .npy data shaped for it`,
  );
}

/** Image files in a class folder and its subfolders (Keras walks them too), sorted by path. */
async function imageFilesUnder(folder: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      if (isHidden(entry.name)) continue;
      const entryPath = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(entryPath);
        continue;
      }
      const extension = path.extname(entry.name).toLowerCase();
      if (UNSUPPORTED_IMAGE_EXTENSIONS.has(extension)) {
        throw new InputError(entryPath, `is a ${extension.slice(1).toUpperCase()} image; image folders may hold PNG and JPEG only: convert it or move it out of ${folder}`);
      }
      if (IMAGE_EXTENSIONS.has(extension)) found.push(entryPath);
    }
  };
  await walk(folder);
  return found.sort(compareCodePoints);
}

/** `count` of the sorted `files` picked by a seeded shuffle, returned in sorted order (all of them when there are fewer). */
function sampleSorted(files: string[], count: number, random: () => number): string[] {
  if (files.length <= count) return files;
  const indices = files.map((_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (indices.length - i));
    [indices[i], indices[j]] = [indices[j], indices[i]];
  }
  return indices
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => files[i]);
}

async function readImageFile(file: string): Promise<Uint8Array> {
  try {
    const { size } = await fs.stat(file);
    if (size > MAX_FILE_BYTES) throw new InputError(file, `is ${Math.round(size / 2 ** 20)} MB; image files above ${MAX_FILE_BYTES / 2 ** 20} MB are refused`);
    return await fs.readFile(file);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(file, `cannot be read (${(error as Error).message})`);
  }
}

/** `.DS_Store`, AppleDouble `._photo.jpg` files and hidden folders are never data. */
function isHidden(name: string): boolean {
  return name.startsWith('.');
}

/** Python's sorted() order (by code point), which UTF-8 byte order equals; Keras sorts class names with it. */
function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
