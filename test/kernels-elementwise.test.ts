// The wasm kernels that replace stock ones for speed (broadcasting binary ops, per-channel
// FusedBatchNorm, Slice, transposed BatchMatMul, Identity, per-channel Sum) against direct JS references, including the shapes they hand back to
// the stock kernels.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';
import { isProjectKernel } from '../src/engine/kernels/registry';

const TOLERANCE = 1e-5;

before(async () => {
  assert.equal(await selectBackend('wasm'), 'wasm');
});

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, what);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  assert.ok(worst <= TOLERANCE * (scale || 1), `${what}: max error ${worst} at scale ${scale}`);
}

/** Row-major index of `coords` in `shape`, with size-1 axes broadcast and ranks right-aligned. */
function broadcastIndex(coords: number[], shape: number[]): number {
  let index = 0;
  const offset = coords.length - shape.length;
  for (let axis = 0; axis < shape.length; axis++) index = index * shape[axis] + (shape[axis] === 1 ? 0 : coords[axis + offset]);
  return index;
}

function coordinates(flat: number, shape: number[]): number[] {
  const coords = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    coords[axis] = flat % shape[axis];
    flat = Math.floor(flat / shape[axis]);
  }
  return coords;
}

test('the speed kernels are the project’s on wasm', () => {
  for (const name of ['Add', 'Sub', 'Multiply', 'RealDiv', 'SquaredDifference', 'FusedBatchNorm', 'Slice', 'BatchMatMul', 'Identity', 'Sum']) {
    assert.ok(isProjectKernel(name, 'wasm'), name);
  }
});

test('broadcasting binary ops equal their elementwise definition', () => {
  const ops: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, (a: number, b: number) => number]> = [
    ['add', tf.add, (a, b) => a + b],
    ['sub', tf.sub, (a, b) => a - b],
    ['mul', tf.mul, (a, b) => a * b],
    ['div', tf.div, (a, b) => a / b],
    ['squaredDifference', tf.squaredDifference, (a, b) => (a - b) ** 2],
  ];
  const shapePairs: Array<[number[], number[]]> = [
    [[32, 7, 7, 8], [8]],
    [[8], [16, 9, 9, 8]],
    [[4, 1, 36, 8], [4, 5, 1, 8]],
    [[2, 30, 40, 5], [30, 1, 5]],
    [[64, 80], [64, 1]],
    [[3, 4, 8], [8]],
    [[20, 30, 9], [1]],
    [[20, 30, 9], [20, 30, 9]],
  ];
  shapePairs.forEach(([aShape, bShape], n) => {
    const a = tf.randomNormal(aShape, 0, 1, 'float32', n);
    // Kept away from zero so the division is well conditioned.
    const b = tf.add(tf.randomUniform(bShape, 0.5, 2, 'float32', 50 + n), 0);
    const av = a.dataSync();
    const bv = b.dataSync();
    for (const [name, op, definition] of ops) {
      const result = op(a, b);
      const outShape = result.shape;
      const expected = Array.from({ length: result.size }, (_, flat) => {
        const coords = coordinates(flat, outShape);
        return definition(av[broadcastIndex(coords, aShape)], bv[broadcastIndex(coords, bShape)]);
      });
      assertClose(result.dataSync(), expected, `${name} ${aShape} · ${bShape}`);
      result.dispose();
    }
    tf.dispose([a, b]);
  });
});

test('Slice copies the requested block, contiguous or not', () => {
  const shape = [5, 6, 7, 3];
  const x = tf.tensor(Array.from({ length: 5 * 6 * 7 * 3 }, (_, i) => i * 0.5 - 7), shape);
  const xv = x.dataSync();
  const cases: Array<{ begin: number[]; size: number[] }> = [
    { begin: [0, 0, 0, 0], size: [2, 6, 7, 3] },
    { begin: [1, 2, 0, 0], size: [3, 3, 7, 3] },
    { begin: [0, 1, 2, 1], size: [5, 4, 3, 2] },
    { begin: [4, 5, 6, 2], size: [1, 1, 1, 1] },
    { begin: [2, 0, 3, 0], size: [2, -1, -1, -1] },
    { begin: [0, 0, 0, 0], size: [0, 6, 7, 3] },
  ];
  for (const c of cases) {
    const sliced = tf.slice(x, c.begin, c.size);
    const sizes = c.size.map((s, axis) => (s === -1 ? shape[axis] - c.begin[axis] : s));
    assert.deepEqual(sliced.shape, sizes);
    const expected = Array.from({ length: sliced.size }, (_, flat) => {
      const coords = coordinates(flat, sizes).map((v, axis) => v + c.begin[axis]);
      return xv[broadcastIndex(coords, shape)];
    });
    assert.deepEqual(Array.from(sliced.dataSync()), expected, JSON.stringify(c));
    sliced.dispose();
  }
  const ints = tf.tensor2d([[1, 2, 3], [4, 5, 6]], [2, 3], 'int32');
  assert.deepEqual(tf.slice(ints, [0, 1], [2, 2]).arraySync(), [[2, 3], [5, 6]]);
  x.dispose();
});

test('Identity shares data safely: a clone outlives its source and a reassigned variable', () => {
  const before = tf.memory().numTensors;
  const source = tf.tensor([1, 2, 3]);
  const copy = tf.clone(source);
  source.dispose();
  assert.deepEqual(Array.from(copy.dataSync()), [1, 2, 3]);
  const initial = tf.tensor([4, 5]);
  const variable = tf.variable(initial);
  const snapshot = tf.clone(variable);
  const next = tf.tensor([6, 7]);
  variable.assign(next);
  assert.deepEqual(Array.from(snapshot.dataSync()), [4, 5]);
  assert.deepEqual(Array.from(variable.dataSync()), [6, 7]);
  tf.dispose([copy, initial, variable, snapshot, next]);
  assert.equal(tf.memory().numTensors, before);
});

test('FusedBatchNorm equals (x − mean) / √(var + ε) · scale + offset', () => {
  const shape = [8, 6, 6, 5];
  const x = tf.randomNormal(shape, 3, 2, 'float32', 1);
  const mean = tf.randomNormal([5], 0, 1, 'float32', 2);
  const variance = tf.randomUniform([5], 0.1, 3, 'float32', 3);
  const offset = tf.randomNormal([5], 0, 1, 'float32', 4);
  const scale = tf.randomNormal([5], 1, 0.5, 'float32', 5);
  const [xv, mv, vv, ov, sv] = [x, mean, variance, offset, scale].map((t) => t.dataSync());
  const epsilon = 1e-3;
  for (const [withOffset, withScale] of [[true, true], [false, false], [true, false]]) {
    const y = tf.batchNorm(x, mean, variance, withOffset ? offset : undefined, withScale ? scale : undefined, epsilon);
    const expected = Array.from(xv, (value, i) => {
      const c = i % 5;
      return ((value - mv[c]) / Math.sqrt(vv[c] + epsilon)) * (withScale ? sv[c] : 1) + (withOffset ? ov[c] : 0);
    });
    assertClose(y.dataSync(), expected, `offset ${withOffset} scale ${withScale}`);
    y.dispose();
  }
  // Statistics shaped [1, 1, 1, c] instead of [c] go to the stock kernel.
  const asRank4 = (t: tf.Tensor) => t.reshape([1, 1, 1, 5]);
  const y = tf.batchNorm(x, asRank4(mean), asRank4(variance), asRank4(offset), asRank4(scale), epsilon);
  const expected = Array.from(xv, (value, i) => ((value - mv[i % 5]) / Math.sqrt(vv[i % 5] + epsilon)) * sv[i % 5] + ov[i % 5]);
  assertClose(y.dataSync(), expected, 'rank-4 statistics');
  tf.dispose([x, mean, variance, offset, scale, y]);
});

test('Sum equals the elementwise definition, per channel and handed back to the stock kernel', () => {
  const cases: Array<{ shape: number[]; axis: number[]; keepDims: boolean }> = [
    { shape: [32, 28, 28, 8], axis: [0, 1, 2], keepDims: false },
    { shape: [5, 7, 3], axis: [1, 0], keepDims: true },
    { shape: [9, 1], axis: [0], keepDims: false },
    { shape: [4, 6, 6, 5], axis: [-4, -3, -2], keepDims: false },
    { shape: [4, 6, 5], axis: [0, 2], keepDims: false },
    { shape: [4, 6, 5], axis: [2], keepDims: false },
  ];
  for (const { shape, axis, keepDims } of cases) {
    const x = tf.randomNormal(shape, 1, 2, 'float32', 9);
    const values = x.dataSync();
    const axes = axis.map((a) => (a < 0 ? a + shape.length : a));
    const kept = shape.map((size, a) => (axes.includes(a) ? 1 : size));
    const expected = new Array<number>(kept.reduce((p, q) => p * q, 1)).fill(0);
    values.forEach((value, flat) => {
      expected[broadcastIndex(coordinates(flat, shape), kept)] += value;
    });
    const sum = tf.sum(x, axis, keepDims);
    assert.deepEqual(sum.shape, keepDims ? kept : kept.filter((_, a) => !axes.includes(a)), `${shape} over ${axis}`);
    assertClose(sum.dataSync(), expected, `${shape} over ${axis}`);
    tf.dispose([x, sum]);
  }
});

test('BatchMatMul with and without transposes equals the row-by-column definition', () => {
  const cases: Array<{ a: number[]; b: number[]; transposeA: boolean; transposeB: boolean }> = [
    { a: [32, 300], b: [32, 10], transposeA: true, transposeB: false },
    { a: [32, 10], b: [300, 10], transposeA: false, transposeB: true },
    { a: [7, 5], b: [9, 7], transposeA: true, transposeB: true },
    { a: [3, 6, 4], b: [3, 6, 5], transposeA: true, transposeB: false },
    { a: [2, 4, 6], b: [1, 5, 6], transposeA: false, transposeB: true },
    { a: [6, 8], b: [8, 3], transposeA: false, transposeB: false },
  ];
  cases.forEach((c, n) => {
    const a = tf.randomNormal(c.a, 0, 1, 'float32', n);
    const b = tf.randomNormal(c.b, 0, 1, 'float32', 20 + n);
    const product = tf.matMul(a, b, c.transposeA, c.transposeB);
    const matrices = (t: tf.Tensor, transpose: boolean): number[][][] => {
      const batches = (t.rank === 3 ? t.arraySync() : [t.arraySync()]) as number[][][];
      return batches.map((m) => (transpose ? m[0].map((_, j) => m.map((row) => row[j])) : m));
    };
    const left = matrices(a, c.transposeA);
    const right = matrices(b, c.transposeB);
    const batchCount = Math.max(left.length, right.length);
    const expected: number[] = [];
    for (let batch = 0; batch < batchCount; batch++) {
      const l = left[left.length === 1 ? 0 : batch];
      const r = right[right.length === 1 ? 0 : batch];
      for (const row of l) for (let j = 0; j < r[0].length; j++) expected.push(row.reduce((sum, v, k) => sum + v * r[k][j], 0));
    }
    assertClose(product.dataSync(), expected, JSON.stringify(c));
    tf.dispose([a, b, product]);
  });
});

test('LeakyReLU’s gradient on wasm is the project’s one-pass kernel and equals TF.js’s formula', () => {
  assert.ok(isProjectKernel('GradientLensLeakyReluGrad', 'wasm'));
  for (const alpha of [0.3, 0.01]) {
    const x = tf.randomNormal([4, 9, 9, 8], 0, 1, 'float32', 7);
    // Some exact zeros: the formula's mask is x > 0, so 0 takes the α branch.
    const withZeros = tf.where(tf.less(tf.abs(x), 0.05), tf.zerosLike(x), x);
    const dy = tf.randomNormal([4, 9, 9, 8], 0, 1, 'float32', 8);
    const grad = tf.grad((input: tf.Tensor) => tf.leakyRelu(input, alpha))(withZeros, dy);
    const expected = tf.where(tf.greater(withZeros, 0), dy, tf.mul(dy, alpha));
    assertClose(grad.dataSync(), expected.dataSync(), `alpha ${alpha}`);
    // Bit for bit: both are dy or the float32 product α·dy.
    assert.deepEqual(Array.from(grad.dataSync()), Array.from(expected.dataSync()));
    tf.dispose([x, withZeros, dy, grad, expected]);
  }
});
