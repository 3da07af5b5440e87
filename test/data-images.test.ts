import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { loadDataset } from '../src/engine/data/load';
import type { Dataset } from '../src/engine/data/dataset';
import { InputError } from '../src/engine/errors';
import { runCli } from './cliHarness';

const scratch = mkdtempSync(path.join(tmpdir(), 'gradient-lens-images-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

let folderCount = 0;
/** A data folder from `{ class: { file: bytes } }`; names with a slash make nested folders. */
function imageFolder(classes: Record<string, Record<string, Buffer>>): string {
  const root = path.join(scratch, `images-${folderCount++}`);
  mkdirSync(root);
  for (const [className, files] of Object.entries(classes)) {
    for (const [name, bytes] of Object.entries(files)) {
      const file = path.join(root, className, name);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, bytes);
    }
  }
  return root;
}

// ──── Image writers (the same libraries the loader decodes with) ────

type Rgba = [number, number, number, number];

function pngOf(width: number, height: number, pixel: (x: number, y: number) => Rgba): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) png.data.set(pixel(x, y), 4 * (y * width + x));
  return PNG.sync.write(png);
}

function greyPngOf(width: number, height: number, grey: (x: number, y: number) => number): Buffer {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  png.data = Buffer.from(Array.from({ length: width * height }, (_, i) => grey(i % width, Math.floor(i / width))));
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

function jpegOf(width: number, height: number, pixel: Rgba): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set(pixel, 4 * i);
  return encodeJpeg({ width, height, data }, 100).data;
}

const solid = (rgba: Rgba) => () => rgba;

/** Values of example `index`, rounded to 4 places so float noise does not hide the point of a comparison. */
function example(data: Dataset, index: number): number[] {
  const size = data.x.length / data.size;
  return Array.from(data.x.subarray(index * size, (index + 1) * size), (v) => Math.round(v * 1e4) / 1e4);
}

function assertClose(actual: ArrayLike<number>, expected: number[], tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
}

async function assertInputError(promise: Promise<unknown>, file: string, ...fragments: RegExp[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.equal(error.file, file);
    assert.ok(error.message.startsWith(`${file}: `), error.message);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    for (const fragment of fragments) assert.match(error.message, fragment);
    return true;
  });
}

// ──── Layout, labels, scaling ────

test('class folders become labels in sorted (code point) order; PNG, JPEG, mixed sizes and nested folders load; other files are skipped', async () => {
  const root = imageFolder({
    cat: { 'b.png': pngOf(6, 3, solid([200, 10, 10, 255])), 'a.jpg': jpegOf(5, 7, [200, 10, 10, 255]), 'more/c.JPEG': jpegOf(4, 4, [200, 10, 10, 255]), 'notes.txt': Buffer.from('x') },
    Dog: { '1.png': pngOf(4, 4, solid([10, 200, 10, 255])), '.DS_Store': Buffer.from('junk'), '._1.png': Buffer.from('AppleDouble') },
    ant: { 'x.png': pngOf(9, 2, solid([10, 10, 200, 255])) },
    '.ipynb_checkpoints': { 'stale.png': pngOf(2, 2, solid([0, 0, 0, 255])) },
  });
  writeFileSync(path.join(root, 'README'), 'not data');
  writeFileSync(path.join(root, '.DS_Store'), 'junk');

  const data = await loadDataset(root, [3, 3, 3], 3, 1);
  assert.equal(data.name, root);
  assert.deepEqual(data.inputShape, [3, 3, 3]);
  assert.equal(data.size, 5);
  assert.equal(data.x.length, 5 * 27);
  // Python's sorted(): 'Dog' < 'ant' < 'cat'; files in path order within a class.
  assert.deepEqual(Array.from(data.y), [0, 1, 2, 2, 2]);
  const colour = { 0: [10, 200, 10], 1: [10, 10, 200], 2: [200, 10, 10] } as Record<number, number[]>;
  for (let i = 0; i < data.size; i++) {
    const expected = new Array(9).fill(colour[data.y[i]].map((v) => v / 255)).flat();
    assertClose(example(data, i), expected, 3 / 255, `example ${i} (class ${data.y[i]})`);
  }
});

test('a same-size PNG is copied exactly, scaled by 1/255 (as IDX bytes are)', async () => {
  const pixel = (x: number, y: number): Rgba => [x * 60 + y, 255 - x * 50, y * 80, 255];
  const root = imageFolder({ a: { 'p.png': pngOf(4, 3, pixel) }, b: { 'p.png': pngOf(4, 3, solid([0, 0, 0, 255])) } });
  const data = await loadDataset(root, [3, 4, 3], 2, 1);
  const expected: number[] = [];
  for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) expected.push(...pixel(x, y).slice(0, 3).map((v) => v / 255));
  assertClose(data.x.subarray(0, 36), expected, 1e-6, 'pixels');
  assert.equal(Math.max(...data.x), 1);
  assert.equal(Math.min(...data.x), 0);
});

test('resizing is bilinear with half-pixel centres, as tf.image.resize (Keras default): 2 → 4 and 4 → 2 pixels', async () => {
  const up = imageFolder({ a: { 'p.png': greyPngOf(2, 1, (x) => [0, 255][x]) }, b: { 'p.png': greyPngOf(2, 1, () => 0) } });
  const upData = await loadDataset(up, [1, 4, 1], 2, 1);
  assertClose(upData.x.subarray(0, 4), [0, 0.25, 0.75, 1], 1e-6, 'upscaled');

  const down = imageFolder({ a: { 'p.png': greyPngOf(4, 4, (x, y) => [0, 100, 200, 60][x] + 10 * y) }, b: { 'p.png': greyPngOf(4, 4, () => 0) } });
  const downData = await loadDataset(down, [2, 2, 1], 2, 1);
  // Each output pixel is the mean of a 2×2 block: columns (0+100)/2, (200+60)/2; rows add 5 and 25.
  assertClose(downData.x.subarray(0, 4), [55, 135, 75, 155].map((v) => v / 255), 1e-6, 'downscaled');
});

test('channels: grey fills RGB equally, RGB becomes BT.601 luma for 1 channel and for [h, w] inputs, alpha is dropped for 3 and kept for 4', async () => {
  const rgba: Rgba = [200, 100, 50, 128];
  const root = imageFolder({ a: { 'grey.png': greyPngOf(2, 2, () => 90) }, b: { 'rgb.png': pngOf(2, 2, solid(rgba)) } });
  const luma = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255;

  const rgb = await loadDataset(root, [2, 2, 3], 2, 1);
  assertClose(rgb.x.subarray(0, 12), new Array(12).fill(90 / 255), 1e-6, 'grey → RGB');
  assertClose(rgb.x.subarray(12, 24), new Array(4).fill([200 / 255, 100 / 255, 50 / 255]).flat(), 1e-6, 'RGBA → RGB');

  for (const shape of [[2, 2, 1], [2, 2]]) {
    const grey = await loadDataset(root, shape, 2, 1);
    assertClose(grey.x, [...new Array(4).fill(90 / 255), ...new Array(4).fill(luma)], 1e-6, `RGB → grey for ${JSON.stringify(shape)}`);
  }

  const withAlpha = await loadDataset(root, [2, 2, 4], 2, 1);
  assertClose(withAlpha.x.subarray(16, 20), rgba.map((v) => v / 255), 1e-6, 'RGBA kept');
  assertClose(withAlpha.x.subarray(0, 4), [90 / 255, 90 / 255, 90 / 255, 1], 1e-6, 'opaque grey');
});

// ──── Limits and determinism ────

test('a large class is sampled by seed within the memory cap: same seed, same numbers; another seed, other images; file order kept', async () => {
  // Pixel value = file index, so each example says which file it came from.
  const many = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`img-${String(i).padStart(2, '0')}.png`, greyPngOf(2, 2, () => i * 10)]));
  const few = Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`f${i}.png`, greyPngOf(2, 2, () => 250)]));
  const root = imageFolder({ 'a-many': many, 'b-few': few });
  // 512×512×4 floats: the 64 MB cap allows 16 images, 8 per class.
  const shape = [512, 512, 4];
  const pick = (data: Dataset) => Array.from({ length: data.size }, (_, i) => Math.round(data.x[i * 512 * 512 * 4] * 255));

  const first = await loadDataset(root, shape, 2, 1);
  const again = await loadDataset(root, shape, 2, 1);
  const other = await loadDataset(root, shape, 2, 2);
  assert.equal(first.size, 8 + 3);
  assert.deepEqual(Array.from(first.y), [...new Array(8).fill(0), 1, 1, 1]);
  assert.deepEqual(first.x, again.x);
  assert.deepEqual(first.y, again.y);
  const picked = pick(first).slice(0, 8);
  assert.deepEqual(picked, [...picked].sort((a, b) => a - b), 'sampled files stay in name order');
  assert.equal(new Set(picked).size, 8);
  assert.notDeepEqual(pick(other).slice(0, 8), picked);
});

test('at most 512 images are read, split evenly between classes', async () => {
  const tiny = greyPngOf(1, 1, () => 7);
  const files = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`${i}.png`, tiny]));
  const root = imageFolder({ a: files, b: files });
  const progress: Array<[string, number, number]> = [];
  const data = await loadDataset(root, [2, 2, 1], 2, 1, (what, done, total) => progress.push([what, done, total]));
  assert.equal(data.size, 512);
  assert.equal(data.y.filter((label) => label === 0).length, 256);
  // Decoding reports each image, so the user sees how far a slow folder has got.
  assert.equal(progress.length, 512);
  assert.deepEqual(progress[0], ['decoding images', 1, 512]);
  assert.deepEqual(progress[511], ['decoding images', 512, 512]);
  assert.ok(progress.every(([, done], i) => done === i + 1));
});

// ──── Bad input: one InputError naming the file or folder, never a crash ────

test('bad image folders give a one-line InputError naming the folder or file and the problem', async () => {
  const good = pngOf(3, 3, solid([1, 2, 3, 255]));

  const onlyJunk = imageFolder({});
  writeFileSync(path.join(onlyJunk, '.DS_Store'), 'junk');
  await assertInputError(loadDataset(onlyJunk, [4, 4, 1], 2, 1), onlyJunk, /holds no data files/, /subfolder of PNG\/JPEG images per class/);

  const flat = imageFolder({});
  writeFileSync(path.join(flat, 'a.png'), good);
  await assertInputError(loadDataset(flat, [4, 4, 1], 2, 1), flat, /images but no class folders/);

  const oneClass = imageFolder({ cats: { 'a.png': good } });
  await assertInputError(loadDataset(oneClass, [4, 4, 1], 10, 1), oneClass, /holds 1 class folder \(cats\)/, /the model has 10 classes/);

  const threeClasses = imageFolder({ a: { 'a.png': good }, b: { 'b.png': good }, c: { 'c.png': good } });
  await assertInputError(loadDataset(threeClasses, [4, 4, 1], 2, 1), threeClasses, /holds 3 class folders \(a, b, c\)/, /the model has 2 classes/);

  const emptyClass = imageFolder({ a: { 'a.png': good }, b: { README: Buffer.from('todo') } });
  await assertInputError(loadDataset(emptyClass, [4, 4, 1], 2, 1), path.join(emptyClass, 'b'), /no PNG or JPEG images/);

  const gif = imageFolder({ a: { 'a.png': good }, b: { 'b.png': good, 'anim.gif': Buffer.from('GIF89a') } });
  await assertInputError(loadDataset(gif, [4, 4, 1], 2, 1), path.join(gif, 'b', 'anim.gif'), /is a GIF image/, /PNG and JPEG only/);

  const bmp = imageFolder({ a: { 'a.png': good, 'deep/old.BMP': Buffer.from('BM') }, b: { 'b.png': good } });
  await assertInputError(loadDataset(bmp, [4, 4, 1], 2, 1), path.join(bmp, 'a', 'deep', 'old.BMP'), /is a BMP image/);

  const truncatedPng = imageFolder({ a: { 'a.png': good }, b: { 'cut.png': good.subarray(0, good.length - 12) } });
  await assertInputError(loadDataset(truncatedPng, [4, 4, 1], 2, 1), path.join(truncatedPng, 'b', 'cut.png'), /corrupt or truncated PNG/);

  const jpeg = jpegOf(8, 8, [9, 9, 9, 255]);
  const truncatedJpeg = imageFolder({ a: { 'a.png': good }, b: { 'cut.jpg': jpeg.subarray(0, jpeg.length >> 1) } });
  await assertInputError(loadDataset(truncatedJpeg, [4, 4, 1], 2, 1), path.join(truncatedJpeg, 'b', 'cut.jpg'), /corrupt or truncated JPEG/);

  const notAnImage = imageFolder({ a: { 'a.png': good }, b: { 'text.jpeg': Buffer.from('hello') } });
  await assertInputError(loadDataset(notAnImage, [4, 4, 1], 2, 1), path.join(notAnImage, 'b', 'text.jpeg'), /is not a PNG or JPEG image \(it starts with bytes 68 65 6c 6c\)/);

  // A valid PNG start claiming 20000×20000 pixels is refused before any decoding.
  const bomb = Buffer.from(good);
  bomb.writeUInt32BE(20000, 16);
  bomb.writeUInt32BE(20000, 20);
  const huge = imageFolder({ a: { 'a.png': good }, b: { 'bomb.png': bomb } });
  await assertInputError(loadDataset(huge, [4, 4, 1], 2, 1), path.join(huge, 'b', 'bomb.png'), /20000×20000 pixels, more than 25 megapixels/);

  const images = imageFolder({ a: { 'a.png': good }, b: { 'b.png': good } });
  await assertInputError(loadDataset(images, [784], 2, 1), images, /input \[784\] is not an image shape/);
  await assertInputError(loadDataset(images, [3, 32, 32], 2, 1), images, /input \[3, 32, 32\] is not an image shape/);
});

// ──── End to end ────

test('the CLI trains on an image folder: exit 0 or 1, and the report names the folder as its data', () => {
  const classes: Record<string, Record<string, Buffer>> = {};
  for (let c = 0; c < 10; c++) {
    const shade = 20 + c * 23;
    classes[`class-${c}`] = { 'a.png': pngOf(30, 26, solid([shade, 255 - shade, shade, 255])), 'b.jpg': jpegOf(20, 34, [shade, shade, 255 - shade, 255]) };
  }
  const root = imageFolder(classes);
  const result = runCli(['analyze', 'samples/healthy-small-cnn/keras2.json', '--data', root, '--steps', '5', '--format', 'json']);
  assert.ok(result.status === 0 || result.status === 1, `exit ${result.status}: ${result.stderr}`);
  const report = JSON.parse(result.stdout);
  assert.equal(report.run.data, root);
  assert.match(result.stderr, /^decoding images 20\/20$/m, 'the loading progress reaches the terminal');
  assert.equal(report.history.loss.length, 5);
  assert.ok(report.history.loss.every((loss: number) => Number.isFinite(loss)));
});
