import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadDataset } from '../src/engine/data/load';
import { shippedSubsetFolder } from '../src/engine/data/fashionMnist';
import type { Dataset } from '../src/engine/data/dataset';
import { InputError } from '../src/engine/errors';

const scratch = mkdtempSync(path.join(tmpdir(), 'gradient-lens-data-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

let folderCount = 0;
function freshFolder(): string {
  const folder = path.join(scratch, `case-${folderCount++}`);
  mkdirSync(folder);
  return folder;
}

// ──── File writers (the formats' own definitions, independent of the loader) ────

const IDX_TYPE = { uint8: 0x08, int32: 0x0c, float32: 0x0d } as const;
function idxBytes(type: keyof typeof IDX_TYPE, shape: number[], values: ArrayLike<number>): Buffer {
  const size = type === 'uint8' ? 1 : 4;
  const bytes = Buffer.alloc(4 + 4 * shape.length + values.length * size);
  bytes[2] = IDX_TYPE[type];
  bytes[3] = shape.length;
  shape.forEach((d, i) => bytes.writeUInt32BE(d, 4 + 4 * i));
  const start = 4 + 4 * shape.length;
  for (let i = 0; i < values.length; i++) {
    if (type === 'uint8') bytes[start + i] = values[i];
    else if (type === 'int32') bytes.writeInt32BE(values[i], start + 4 * i);
    else bytes.writeFloatBE(values[i], start + 4 * i);
  }
  return bytes;
}

const NPY_DESCR = { float32: '<f4', float64: '<f8', uint8: '|u1', int32: '<i4', int64: '<i8' } as const;
function npyBytes(dtype: keyof typeof NPY_DESCR, shape: number[], values: ArrayLike<number>, fortran = false): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${NPY_DESCR[dtype]}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(prefix);
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  const body = (() => {
    switch (dtype) {
      case 'float32': return Buffer.from(Float32Array.from(values).buffer);
      case 'float64': return Buffer.from(Float64Array.from(values).buffer);
      case 'uint8': return Buffer.from(Uint8Array.from(values).buffer);
      case 'int32': return Buffer.from(Int32Array.from(values).buffer);
      case 'int64': return Buffer.from(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
    }
  })();
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]);
}

/** n examples of 4×4 pixels, pixel value = (example + pixel) mod 256, labels example mod 3. */
function smallImages(n: number): { pixels: number[]; labels: number[] } {
  const pixels = Array.from({ length: n * 16 }, (_, i) => (Math.floor(i / 16) + (i % 16)) % 256);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  return { pixels, labels };
}

async function assertInputError(promise: Promise<unknown>, file: string, ...fragments: RegExp[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.equal(error.file, file);
    assert.ok(error.message.startsWith(`${file}: `), error.message);
    for (const fragment of fragments) assert.match(error.message, fragment);
    return true;
  });
}

// ──── Bundled Fashion-MNIST subset ────

test('the bundled Fashion-MNIST subset loads: 4000 images of 784 values in [0, 1], 400 per class', async () => {
  const data = await loadDataset('fashion-mnist', [28, 28, 1], 10, 1);
  assert.equal(data.name, 'fashion-mnist');
  assert.equal(data.size, 4000);
  assert.equal(data.x.length, 4000 * 784);
  assert.deepEqual(data.inputShape, [28, 28, 1]);
  let min = Infinity;
  let max = -Infinity;
  for (const v of data.x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.equal(min, 0);
  assert.equal(max, 1);
  const perClass = new Array(10).fill(0);
  for (const label of data.y) perClass[label]++;
  assert.deepEqual(perClass, new Array(10).fill(400));
});

test('the subset is found by walking up from the bundle folder (dist/) and from the compiled tests, and missing elsewhere', () => {
  const root = path.resolve(__dirname, '../..');
  const expected = path.join(root, 'data', 'fashion-mnist');
  assert.equal(shippedSubsetFolder(path.join(root, 'dist')), expected);
  assert.equal(shippedSubsetFolder(path.join(root, 'out', 'src', 'engine', 'data')), expected);
  assert.throws(() => shippedSubsetFolder(scratch), /Fashion-MNIST subset .* is missing/);
});

test("'auto' picks the subset for 28×28×1, 28×28 and 784 inputs with 10 classes, synthetic otherwise", async () => {
  for (const shape of [[28, 28, 1], [28, 28], [784]]) assert.equal((await loadDataset('auto', shape, 10, 1)).name, 'fashion-mnist', String(shape));
  assert.equal((await loadDataset('auto', [28, 28, 1], 5, 1)).name, 'synthetic');
  assert.equal((await loadDataset('auto', [16, 16, 3], 10, 1)).name, 'synthetic');
});

test("'fashion-mnist' for a model of another shape is an InputError saying both shapes", async () => {
  await assertInputError(loadDataset('fashion-mnist', [32, 32, 3], 10, 1), 'fashion-mnist', /28×28×1/, /\[32, 32, 3\]/);
});

// ──── Synthetic data ────

function nearestClassMeanAccuracy(data: Dataset): number {
  const width = data.x.length / data.size;
  const half = Math.floor(data.size / 2);
  const means = Array.from({ length: data.numClasses }, () => new Float64Array(width));
  const counts = new Array(data.numClasses).fill(0);
  for (let i = 0; i < half; i++) {
    counts[data.y[i]]++;
    for (let j = 0; j < width; j++) means[data.y[i]][j] += data.x[i * width + j];
  }
  means.forEach((mean, c) => mean.forEach((_, j) => (mean[j] /= counts[c])));
  let correct = 0;
  for (let i = half; i < data.size; i++) {
    let best = -1;
    let bestDistance = Infinity;
    for (let c = 0; c < data.numClasses; c++) {
      let distance = 0;
      for (let j = 0; j < width; j++) distance += (data.x[i * width + j] - means[c][j]) ** 2;
      if (distance < bestDistance) [best, bestDistance] = [c, distance];
    }
    if (best === data.y[i]) correct++;
  }
  return correct / (data.size - half);
}

test('synthetic data is learnable for several shapes: a nearest-class-mean classifier is far above chance', async () => {
  for (const [shape, classes] of [[[12, 12, 3], 5], [[20], 3], [[8, 8], 4], [[28, 28, 1], 10]] as Array<[number[], number]>) {
    const data = await loadDataset('synthetic', shape, classes, 7);
    assert.deepEqual(data.inputShape, shape);
    assert.equal(data.x.length, data.size * shape.reduce((a, b) => a * b, 1));
    assert.ok(data.y.every((label) => label >= 0 && label < classes));
    const accuracy = nearestClassMeanAccuracy(data);
    assert.ok(accuracy > Math.min(0.9, 3 / classes), `${shape} × ${classes}: accuracy ${accuracy}`);
  }
});

test('synthetic data is deterministic per seed, differs between seeds and stays in a sane range', async () => {
  const a = await loadDataset('synthetic', [10, 10, 2], 4, 3);
  const b = await loadDataset('synthetic', [10, 10, 2], 4, 3);
  const c = await loadDataset('synthetic', [10, 10, 2], 4, 4);
  assert.deepEqual(a.x, b.x);
  assert.deepEqual(a.y, b.y);
  assert.notDeepEqual(a.x, c.x);
  let sum = 0;
  let sumSquares = 0;
  for (const v of a.x) {
    assert.ok(Number.isFinite(v) && Math.abs(v) < 10, `value ${v}`);
    sum += v;
    sumSquares += v * v;
  }
  const mean = sum / a.x.length;
  const std = Math.sqrt(sumSquares / a.x.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.5 && std > 0.5 && std < 2, `mean ${mean}, std ${std}`);
});

// ──── IDX files ────

test('IDX pairs load gzip and plain, by images path, labels path or folder; bytes scale to [0, 1]', async () => {
  const { pixels, labels } = smallImages(30);
  const plain = freshFolder();
  writeFileSync(path.join(plain, 'train-images-idx3-ubyte'), idxBytes('uint8', [30, 4, 4], pixels));
  writeFileSync(path.join(plain, 'train-labels-idx1-ubyte'), idxBytes('uint8', [30], labels));
  const zipped = freshFolder();
  writeFileSync(path.join(zipped, 'digits-images.idx3-ubyte.gz'), gzipSync(idxBytes('uint8', [30, 4, 4], pixels)));
  writeFileSync(path.join(zipped, 'digits-labels.idx1-ubyte.gz'), gzipSync(idxBytes('uint8', [30], labels)));

  const specs = [
    path.join(plain, 'train-images-idx3-ubyte'),
    path.join(plain, 'train-labels-idx1-ubyte'),
    plain,
    path.join(zipped, 'digits-images.idx3-ubyte.gz'),
    zipped,
  ];
  for (const spec of specs) {
    const data = await loadDataset(spec, [4, 4, 1], 3, 1);
    assert.equal(data.size, 30, spec);
    assert.deepEqual(Array.from(data.y), labels, spec);
    assert.deepEqual(data.inputShape, [4, 4, 1]);
    for (let i = 0; i < pixels.length; i++) assert.ok(Math.abs(data.x[i] - pixels[i] / 255) < 1e-6, `${spec} element ${i}`);
  }
});

test('IDX float32 images and int32 labels keep their values; 4×4 data also fits a 16-wide input', async () => {
  const folder = freshFolder();
  const values = Array.from({ length: 5 * 16 }, (_, i) => (i - 40) / 8);
  writeFileSync(path.join(folder, 'x-images-idx3-ubyte'), idxBytes('float32', [5, 4, 4], values));
  writeFileSync(path.join(folder, 'x-labels-idx1-ubyte'), idxBytes('int32', [5], [0, 1, 0, 1, 1]));
  const data = await loadDataset(folder, [16], 2, 1);
  assert.deepEqual(Array.from(data.x), values);
  assert.deepEqual(Array.from(data.y), [0, 1, 0, 1, 1]);
});

test('a folder with train and t10k pairs uses the training pair', async () => {
  const { pixels, labels } = smallImages(6);
  const folder = freshFolder();
  for (const prefix of ['train', 't10k']) {
    const count = prefix === 'train' ? 6 : 3;
    writeFileSync(path.join(folder, `${prefix}-images-idx3-ubyte.gz`), gzipSync(idxBytes('uint8', [count, 4, 4], pixels.slice(0, count * 16))));
    writeFileSync(path.join(folder, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idxBytes('uint8', [count], labels.slice(0, count))));
  }
  const data = await loadDataset(folder, [4, 4, 1], 3, 1);
  assert.equal(data.size, 6);
  assert.equal(data.name, path.join(folder, 'train-images-idx3-ubyte.gz'));
});

// ──── .npy pairs ────

test('.npy pairs load for float32, float64, uint8 and int32 examples with int64, int32, uint8 and one-hot labels', async () => {
  const { pixels, labels } = smallImages(12);
  const oneHot = labels.flatMap((label) => [0, 1, 2].map((c) => (c === label ? 1 : 0)));
  const cases = [
    { x: 'float32', y: 'int64', scale: 1, yShape: [12], yValues: labels, names: ['x.npy', 'y.npy'], spec: '' },
    { x: 'float64', y: 'int32', scale: 1, yShape: [12, 1], yValues: labels, names: ['X_train.npy', 'y_train.npy'], spec: 'X_train.npy' },
    { x: 'uint8', y: 'uint8', scale: 1 / 255, yShape: [12], yValues: labels, names: ['images.npy', 'labels.npy'], spec: 'labels.npy' },
    { x: 'int32', y: 'float32', scale: 1, yShape: [12, 3], yValues: oneHot, names: ['x.npy', 'y.npy'], spec: 'x.npy' },
  ] as const;
  for (const c of cases) {
    const folder = freshFolder();
    writeFileSync(path.join(folder, c.names[0]), npyBytes(c.x, [12, 4, 4, 1], pixels));
    writeFileSync(path.join(folder, c.names[1]), npyBytes(c.y, [...c.yShape], c.yValues));
    const data = await loadDataset(path.join(folder, c.spec), [4, 4, 1], 3, 1);
    assert.equal(data.size, 12, JSON.stringify(c));
    assert.deepEqual(Array.from(data.y), labels, JSON.stringify(c));
    for (let i = 0; i < pixels.length; i++) assert.ok(Math.abs(data.x[i] - pixels[i] * c.scale) < 1e-6, `${c.x} element ${i}`);
  }
});

test('28×28 .npy examples fit a 28×28×1 model (trailing channel added)', async () => {
  const folder = freshFolder();
  writeFileSync(path.join(folder, 'x.npy'), npyBytes('float32', [2, 28, 28], new Array(2 * 784).fill(0.5)));
  writeFileSync(path.join(folder, 'y.npy'), npyBytes('int64', [2], [3, 9]));
  const data = await loadDataset(folder, [28, 28, 1], 10, 1);
  assert.deepEqual(data.inputShape, [28, 28, 1]);
  assert.equal(data.x.length, 2 * 784);
});

// ──── Bad data: one InputError naming the file, never a crash ────

test('bad data inputs give an InputError that names the file and the problem', async () => {
  const { pixels, labels } = smallImages(10);
  const folder = freshFolder();
  const file = (name: string, bytes: Buffer) => {
    writeFileSync(path.join(folder, name), bytes);
    return path.join(folder, name);
  };

  const missing = path.join(folder, 'nothing-here');
  await assertInputError(loadDataset(missing, [4, 4, 1], 3, 1), missing, /no such file/);

  const wrongShape = file('shape-images-idx3-ubyte', idxBytes('uint8', [10, 4, 4], pixels));
  file('shape-labels-idx1-ubyte', idxBytes('uint8', [10], labels));
  await assertInputError(loadDataset(wrongShape, [5, 5, 1], 3, 1), wrongShape, /\[4, 4\]/, /\[5, 5, 1\]/);

  file('range-images-idx3-ubyte', idxBytes('uint8', [10, 4, 4], pixels));
  const outOfRange = file('range-labels-idx1-ubyte', idxBytes('uint8', [10], [...labels.slice(0, 9), 7]));
  await assertInputError(loadDataset(path.join(folder, 'range-images-idx3-ubyte'), [4, 4, 1], 3, 1), outOfRange, /label 7 of example 9/, /3 classes/);

  file('count-images-idx3-ubyte', idxBytes('uint8', [10, 4, 4], pixels));
  const fewer = file('count-labels-idx1-ubyte', idxBytes('uint8', [8], labels.slice(0, 8)));
  await assertInputError(loadDataset(path.join(folder, 'count-images-idx3-ubyte'), [4, 4, 1], 3, 1), fewer, /8 labels/, /10 examples/);

  const truncated = file('cut-images-idx3-ubyte', idxBytes('uint8', [10, 4, 4], pixels).subarray(0, 100));
  file('cut-labels-idx1-ubyte', idxBytes('uint8', [10], labels));
  await assertInputError(loadDataset(truncated, [4, 4, 1], 3, 1), truncated, /truncated/);

  const brokenGzip = gzipSync(idxBytes('uint8', [10, 4, 4], pixels));
  const truncatedGzip = file('gz-images-idx3-ubyte.gz', brokenGzip.subarray(0, brokenGzip.length - 20));
  file('gz-labels-idx1-ubyte.gz', gzipSync(idxBytes('uint8', [10], labels)));
  await assertInputError(loadDataset(truncatedGzip, [4, 4, 1], 3, 1), truncatedGzip, /gzip/);

  const alone = file('alone-images-idx3-ubyte', idxBytes('uint8', [10, 4, 4], pixels));
  await assertInputError(loadDataset(alone, [4, 4, 1], 3, 1), alone, /alone-labels-idx1-ubyte/);

  const unknown = file('notes.csv', Buffer.from('1,2,3\n'));
  await assertInputError(loadDataset(unknown, [4, 4, 1], 3, 1), unknown, /not a recognised data file/);

  const noExamples = file('empty-images-idx3-ubyte', idxBytes('uint8', [0, 4, 4], []));
  file('empty-labels-idx1-ubyte', idxBytes('uint8', [0], []));
  await assertInputError(loadDataset(noExamples, [4, 4, 1], 3, 1), noExamples, /no examples/);

  const emptyFolder = freshFolder();
  await assertInputError(loadDataset(emptyFolder, [4, 4, 1], 3, 1), emptyFolder, /no data files/);

  const npyFolder = freshFolder();
  const cutNpy = path.join(npyFolder, 'x.npy');
  writeFileSync(cutNpy, npyBytes('float32', [10, 4, 4, 1], pixels).subarray(0, 300));
  writeFileSync(path.join(npyFolder, 'y.npy'), npyBytes('int64', [10], labels));
  await assertInputError(loadDataset(npyFolder, [4, 4, 1], 3, 1), cutNpy, /truncated/);

  writeFileSync(cutNpy, npyBytes('float32', [10, 4, 4, 1], pixels, true));
  await assertInputError(loadDataset(npyFolder, [4, 4, 1], 3, 1), cutNpy, /Fortran order/);

  writeFileSync(cutNpy, Buffer.from('not numpy at all'));
  await assertInputError(loadDataset(npyFolder, [4, 4, 1], 3, 1), cutNpy, /not a \.npy file/);

  writeFileSync(cutNpy, npyBytes('float32', [10, 4, 4, 1], pixels.map((v, i) => (i === 5 ? NaN : v))));
  await assertInputError(loadDataset(npyFolder, [4, 4, 1], 3, 1), cutNpy, /non-finite/);

  writeFileSync(cutNpy, npyBytes('float32', [10, 4, 4, 1], pixels));
  writeFileSync(path.join(npyFolder, 'y.npy'), npyBytes('float32', [10], labels.map((l) => l + 0.5)));
  await assertInputError(loadDataset(npyFolder, [4, 4, 1], 3, 1), path.join(npyFolder, 'y.npy'), /not a whole number/);
});
