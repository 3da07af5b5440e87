// The wasm kernels that replace stock ones for speed (broadcasting binary ops, per-channel
// Sum/Mean, per-channel FusedBatchNorm) against direct JS references, including the shapes
// they hand back to the stock kernels.
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
  for (const name of ['Add', 'Sub', 'Multiply', 'RealDiv', 'SquaredDifference', 'Sum', 'Mean', 'FusedBatchNorm']) {
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

test('Sum and Mean equal their definition, per channel and otherwise', () => {
  const cases: Array<{ shape: number[]; axis: number[]; keepDims: boolean }> = [
    { shape: [32, 7, 7, 8], axis: [0, 1, 2], keepDims: false },
    { shape: [32, 7, 7, 8], axis: [2, 0, 1], keepDims: true },
    { shape: [6, 5, 3], axis: [-3, -2], keepDims: false },
    { shape: [100, 10], axis: [0], keepDims: false },
    { shape: [4, 6, 5], axis: [1], keepDims: false },
    { shape: [4, 6, 5], axis: [0, 1, 2], keepDims: false },
  ];
  cases.forEach((c, n) => {
    const x = tf.randomNormal(c.shape, 0, 1, 'float32', n);
    const xv = x.dataSync();
    const axes = c.axis.map((a) => (a < 0 ? a + c.shape.length : a));
    const keptShape = c.shape.map((size, axis) => (axes.includes(axis) ? 1 : size));
    const count = axes.reduce((product, axis) => product * c.shape[axis], 1);
    const sums = new Float64Array(keptShape.reduce((a, b) => a * b, 1));
    for (let flat = 0; flat < xv.length; flat++) sums[broadcastIndex(coordinates(flat, c.shape), keptShape)] += xv[flat];
    const expectedShape = c.keepDims ? keptShape : c.shape.filter((_, axis) => !axes.includes(axis));
    const sum = tf.sum(x, c.axis, c.keepDims);
    const mean = tf.mean(x, c.axis, c.keepDims);
    assert.deepEqual(sum.shape, expectedShape);
    assert.deepEqual(mean.shape, expectedShape);
    assertClose(sum.dataSync(), sums, `sum ${JSON.stringify(c)}`);
    assertClose(mean.dataSync(), sums.map((s) => s / count), `mean ${JSON.stringify(c)}`);
    tf.dispose([x, sum, mean]);
  });
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
