import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors';
import { assembleDataset } from './assemble';
import type { Dataset } from './dataset';
import { readDataFile } from './fileBytes';
import { parseIdx } from './idx';
import { elementCount, formatShape } from './numericArray';

export const FASHION_MNIST_NAME = 'fashion-mnist';
const SUBSET_FOLDER = path.join('data', 'fashion-mnist');
const IMAGES_FILE = 'train-images-idx3-ubyte.gz';
const LABELS_FILE = 'train-labels-idx1-ubyte.gz';
const IMAGE_SIZE = 28;
const CLASSES = 10;

/** True for 28×28×1, 28×28 and 784-wide inputs with 10 classes: the shapes the subset fits. */
export function fitsFashionMnist(inputShape: number[], numClasses: number): boolean {
  if (numClasses !== CLASSES || elementCount(inputShape) !== IMAGE_SIZE * IMAGE_SIZE) return false;
  const [height, width] = inputShape;
  return inputShape.length === 1 || (height === IMAGE_SIZE && width === IMAGE_SIZE && inputShape.slice(2).every((d) => d === 1));
}

/**
 * The subset's folder. The engine runs from bundles in dist/ (root one level up), from
 * out/src/engine/data/ in tests (four up) and from an installed extension, so walk up from
 * this file until the folder shows rather than counting levels.
 */
export function shippedSubsetFolder(start = __dirname): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, SUBSET_FOLDER);
    if (existsSync(path.join(candidate, IMAGES_FILE))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`the bundled Fashion-MNIST subset (${SUBSET_FOLDER}) is missing above ${start}: the installation is incomplete`);
  }
}

export async function loadFashionMnist(inputShape: number[], numClasses: number): Promise<Dataset> {
  if (!fitsFashionMnist(inputShape, numClasses)) {
    throw new InputError(
      FASHION_MNIST_NAME,
      `the bundled Fashion-MNIST subset is 28×28×1 images in 10 classes, but the model takes ${formatShape(inputShape)} inputs and has ${numClasses} classes; use --data synthetic or a path to your own data`,
    );
  }
  return { ...(await decodedSubset()), inputShape };
}

let decoding: Promise<Dataset> | undefined;

/**
 * The subset decoded once per process (gunzip and the float conversion of its 3 M pixels,
 * 60–120 ms here), so that a waiting engine can do it before its request arrives
 * (`prefetchFashionMnist`). Every shape the subset fits holds the same values in the same
 * order, so only `inputShape` differs between callers; nobody writes into a dataset's arrays.
 */
function decodedSubset(): Promise<Dataset> {
  decoding ??= (async () => {
    const folder = shippedSubsetFolder();
    const files = { examples: path.join(folder, IMAGES_FILE), labels: path.join(folder, LABELS_FILE) };
    const [images, labels] = await Promise.all([readDataFile(files.examples), readDataFile(files.labels)]);
    return assembleDataset(FASHION_MNIST_NAME, parseIdx(images, files.examples), parseIdx(labels, files.labels), files, [IMAGE_SIZE, IMAGE_SIZE, 1], CLASSES);
  })();
  // A failed read is not kept: the next caller tries again and gets the error itself.
  decoding.catch(() => (decoding = undefined));
  return decoding;
}

/** Decodes the subset ahead of the run that will most likely want it (the default data for 28×28×1 models). */
export function prefetchFashionMnist(): Promise<void> {
  return decodedSubset().then(() => undefined);
}
