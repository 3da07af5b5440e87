// Regenerates the Fashion-MNIST subset shipped in data/fashion-mnist/ from Debian's
// `dataset-fashion-mnist` package. Run once by hand (`node scripts/make-fashion-subset.mjs`);
// nothing reads /usr/share at run time. The choice is deterministic: the first
// PER_CLASS training images of each class, kept in their original file order so classes
// stay interleaved as in the source.
import { gunzipSync, gzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE_DIR = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const PER_CLASS = 400;
const NUM_CLASSES = 10;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const targetDir = path.join(root, 'data/fashion-mnist');

const IMAGES_MAGIC = 0x00000803; // unsigned bytes, 3 dimensions
const LABELS_MAGIC = 0x00000801; // unsigned bytes, 1 dimension

function readIdx(file, expectedMagic) {
  const bytes = gunzipSync(readFileSync(path.join(SOURCE_DIR, file)));
  const magic = bytes.readUInt32BE(0);
  if (magic !== expectedMagic) throw new Error(`${file}: magic 0x${magic.toString(16)}, expected 0x${expectedMagic.toString(16)}`);
  const rank = magic & 0xff;
  const dims = Array.from({ length: rank }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  return { dims, body: bytes.subarray(4 + 4 * rank) };
}

function idxBytes(magic, dims, body) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  // level 9 and no timestamp in Node's gzip header: the output is byte-for-byte reproducible.
  return gzipSync(Buffer.concat([header, body]), { level: 9 });
}

const images = readIdx('train-images-idx3-ubyte.gz', IMAGES_MAGIC);
const labels = readIdx('train-labels-idx1-ubyte.gz', LABELS_MAGIC);
const [count, rows, cols] = images.dims;
if (labels.dims[0] !== count) throw new Error(`image count ${count} differs from label count ${labels.dims[0]}`);
const pixels = rows * cols;

const takenPerClass = new Array(NUM_CLASSES).fill(0);
const chosen = [];
for (let i = 0; i < count && chosen.length < PER_CLASS * NUM_CLASSES; i++) {
  const label = labels.body[i];
  if (takenPerClass[label] < PER_CLASS) {
    takenPerClass[label]++;
    chosen.push(i);
  }
}
if (chosen.length !== PER_CLASS * NUM_CLASSES) throw new Error(`only ${chosen.length} images found; classes: ${takenPerClass}`);

const subsetImages = Buffer.alloc(chosen.length * pixels);
const subsetLabels = Buffer.alloc(chosen.length);
chosen.forEach((source, target) => {
  images.body.copy(subsetImages, target * pixels, source * pixels, (source + 1) * pixels);
  subsetLabels[target] = labels.body[source];
});

mkdirSync(targetDir, { recursive: true });
writeFileSync(path.join(targetDir, 'train-images-idx3-ubyte.gz'), idxBytes(IMAGES_MAGIC, [chosen.length, rows, cols], subsetImages));
writeFileSync(path.join(targetDir, 'train-labels-idx1-ubyte.gz'), idxBytes(LABELS_MAGIC, [chosen.length], subsetLabels));
console.log(`wrote ${chosen.length} images (${PER_CLASS} per class, ${rows}×${cols}) to ${path.relative(root, targetDir)}/; last source index ${chosen.at(-1)}`);
