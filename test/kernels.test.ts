// Every kernel the project registers, checked against a direct JS transcription of its
// definition on shapes that cover strides 1/2/unequal, 'same'/'valid'/explicit padding,
// odd and even kernels, batch > 1 and channels > 1.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend';
import { ADAM_UPDATE, BATCH_NORM_TRAINING_GRAD, CHANNEL_MOMENTS, isProjectKernel } from '../src/engine/kernels/registry';
import { relativeError } from './relativeError';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  x: Shape4;
  filter: Shape4;
  strides: [number, number];
  pad: Pad;
}

const convCases: ConvCase[] = [
  { x: [2, 7, 9, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { x: [2, 7, 9, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: 'valid' },
  { x: [3, 8, 8, 2], filter: [2, 2, 2, 5], strides: [2, 2], pad: 'same' },
  { x: [2, 9, 11, 3], filter: [2, 2, 3, 4], strides: [1, 3], pad: 'same' },
  { x: [2, 9, 11, 3], filter: [3, 2, 3, 4], strides: [2, 3], pad: 'same' },
  { x: [2, 10, 11, 3], filter: [3, 3, 3, 5], strides: [2, 2], pad: 'valid' },
  { x: [1, 6, 6, 1], filter: [1, 1, 1, 1], strides: [1, 1], pad: 'valid' },
  { x: [2, 5, 5, 4], filter: [4, 4, 4, 3], strides: [1, 1], pad: 'same' },
  { x: [2, 12, 12, 3], filter: [5, 3, 3, 2], strides: [2, 1], pad: 'same' },
  { x: [2, 8, 7, 2], filter: [3, 3, 2, 3], strides: [1, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [4, 14, 14, 8], filter: [3, 3, 8, 16], strides: [1, 1], pad: 'same' },
];

const TOLERANCE = 1e-4;

// ──── references: the definitions, written out ────

function convGeometry(c: ConvCase) {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
  return { ...info, top: info.padInfo.top, left: info.padInfo.left };
}

function at4(shape: Shape4, a: number, b: number, c: number, d: number): number {
  return ((a * shape[1] + b) * shape[2] + c) * shape[3] + d;
}

/** Calls `visit(xIndex, wIndex, yIndex)` for every product term of the convolution. */
function forEachConvTerm(c: ConvCase, visit: (xi: number, wi: number, yi: number) => void): void {
  const g = convGeometry(c);
  const [batch, height, width, inChannels] = c.x;
  const [fh, fw, , outChannels] = c.filter;
  const yShape: Shape4 = [batch, g.outHeight, g.outWidth, outChannels];
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < g.outHeight; oy++)
      for (let ox = 0; ox < g.outWidth; ox++)
        for (let i = 0; i < fh; i++)
          for (let j = 0; j < fw; j++) {
            const row = oy * g.strideHeight - g.top + i;
            const col = ox * g.strideWidth - g.left + j;
            if (row < 0 || row >= height || col < 0 || col >= width) continue;
            for (let ci = 0; ci < inChannels; ci++)
              for (let co = 0; co < outChannels; co++)
                visit(at4(c.x, b, row, col, ci), at4(c.filter, i, j, ci, co), at4(yShape, b, oy, ox, co));
          }
}

function referenceConv(c: ConvCase, x: Float32Array, w: Float32Array, ySize: number): Float64Array {
  const y = new Float64Array(ySize);
  forEachConvTerm(c, (xi, wi, yi) => (y[yi] += x[xi] * w[wi]));
  return y;
}
function referenceFilterGrad(c: ConvCase, x: Float32Array, dy: Float32Array): Float64Array {
  const dW = new Float64Array(c.filter.reduce((a, b) => a * b));
  forEachConvTerm(c, (xi, wi, yi) => (dW[wi] += x[xi] * dy[yi]));
  return dW;
}
function referenceInputGrad(c: ConvCase, w: Float32Array, dy: Float32Array): Float64Array {
  const dx = new Float64Array(c.x.reduce((a, b) => a * b));
  forEachConvTerm(c, (xi, wi, yi) => (dx[xi] += w[wi] * dy[yi]));
  return dx;
}

function label(c: ConvCase): string {
  return `x ${c.x} filter ${c.filter} strides ${c.strides} pad ${JSON.stringify(c.pad)}`;
}

function randomTensor(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

function convOutShape(c: ConvCase): Shape4 {
  const g = convGeometry(c);
  return [c.x[0], g.outHeight, g.outWidth, c.filter[3]];
}

// ──── the checks, for each backend the project registers kernels on ────

for (const backendName of ['wasm', 'cpu'] as const) {
  describe(`${backendName} kernels`, () => {
    before(async () => {
      assert.equal(await selectBackend(backendName), backendName);
    });

    test('the project kernels are registered', () => {
      const expected = backendName === 'wasm'
        ? ['Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'Tile', CHANNEL_MOMENTS, BATCH_NORM_TRAINING_GRAD, ADAM_UPDATE]
        : ['Conv2DBackpropFilter', 'MaxPoolGrad', CHANNEL_MOMENTS, BATCH_NORM_TRAINING_GRAD, ADAM_UPDATE];
      for (const name of expected) assert.ok(isProjectKernel(name, backendName), name);
    });

    test('Conv2DBackpropFilter matches its definition', async () => {
      await tf.setBackend(backendName);
      convCases.forEach((c, n) => {
        const x = randomTensor(c.x, n);
        const dy = randomTensor(convOutShape(c), 100 + n);
        const dW = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter }) as tf.Tensor;
        assert.deepEqual(dW.shape, c.filter, label(c));
        const err = relativeError(dW.dataSync(), referenceFilterGrad(c, x.dataSync() as Float32Array, dy.dataSync() as Float32Array));
        assert.ok(err <= TOLERANCE, `${label(c)}: relative error ${err}`);
        tf.dispose([x, dy, dW]);
      });
    });

    test('Conv2DBackpropInput matches its definition', async () => {
      await tf.setBackend(backendName);
      convCases.forEach((c, n) => {
        const w = randomTensor(c.filter, n);
        const dy = randomTensor(convOutShape(c), 200 + n);
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x }) as tf.Tensor;
        assert.deepEqual(dx.shape, c.x, label(c));
        const err = relativeError(dx.dataSync(), referenceInputGrad(c, w.dataSync() as Float32Array, dy.dataSync() as Float32Array));
        assert.ok(err <= TOLERANCE, `${label(c)}: relative error ${err}`);
        tf.dispose([w, dy, dx]);
      });
    });

    test('Conv2D and fused Conv2D (bias + relu) match the definition', async () => {
      await tf.setBackend(backendName);
      convCases.forEach((c, n) => {
        const x = randomTensor(c.x, n);
        const w = randomTensor(c.filter, 300 + n);
        const bias = randomTensor([c.filter[3]], 400 + n);
        const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad);
        const expected = referenceConv(c, x.dataSync() as Float32Array, w.dataSync() as Float32Array, y.size);
        assert.ok(relativeError(y.dataSync(), expected) <= TOLERANCE, `Conv2D ${label(c)}`);
        const fused = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: c.strides, pad: c.pad, bias, activation: 'relu' });
        const biasValues = bias.dataSync();
        const expectedFused = expected.map((v, i) => Math.max(0, v + biasValues[i % c.filter[3]]));
        assert.ok(relativeError(fused.dataSync(), expectedFused) <= TOLERANCE, `FusedConv2D ${label(c)}`);
        tf.dispose([x, w, bias, y, fused]);
      });
    });

    test('MaxPoolGrad routes each gradient to the first maximum of its window', async () => {
      await tf.setBackend(backendName);
      const poolCases: Array<{ x: Shape4; size: [number, number]; strides: [number, number]; pad: 'same' | 'valid' }> = [
        { x: [2, 8, 8, 3], size: [2, 2], strides: [2, 2], pad: 'valid' },
        { x: [2, 7, 9, 2], size: [3, 3], strides: [2, 2], pad: 'same' },
        { x: [3, 6, 6, 4], size: [3, 3], strides: [1, 1], pad: 'same' },
        { x: [2, 9, 7, 2], size: [2, 3], strides: [2, 1], pad: 'valid' },
        // 2×2 stride 2 (the reference nets' pools): at batch 32 and 1, with an odd row and
        // column left over, and 'same' on odd sizes (padded windows at the edge).
        { x: [32, 28, 28, 8], size: [2, 2], strides: [2, 2], pad: 'valid' },
        { x: [1, 12, 12, 16], size: [2, 2], strides: [2, 2], pad: 'valid' },
        { x: [2, 9, 11, 3], size: [2, 2], strides: [2, 2], pad: 'valid' },
        { x: [2, 9, 11, 3], size: [2, 2], strides: [2, 2], pad: 'same' },
      ];
      poolCases.forEach((c, n) => {
        // Rounded values make ties common, so the tie rule is checked too.
        const x = tf.round(tf.mul(randomTensor(c.x, n), 2));
        const y = tf.maxPool(x as tf.Tensor4D, c.size, c.strides, c.pad);
        const dy = randomTensor(y.shape, 500 + n);
        const dx = tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: c.size, strides: c.strides, pad: c.pad }) as tf.Tensor;
        const info = tf.backend_util.computePool2DInfo(c.x, c.size, c.strides, 1, c.pad);
        const xv = x.dataSync();
        const dyv = dy.dataSync();
        const expected = new Float64Array(x.size);
        const yShape = y.shape as Shape4;
        for (let b = 0; b < c.x[0]; b++)
          for (let oy = 0; oy < info.outHeight; oy++)
            for (let ox = 0; ox < info.outWidth; ox++)
              for (let ch = 0; ch < c.x[3]; ch++) {
                let best = -Infinity;
                let bestIndex = -1;
                for (let i = 0; i < c.size[0]; i++)
                  for (let j = 0; j < c.size[1]; j++) {
                    const row = oy * info.strideHeight - info.padInfo.top + i;
                    const col = ox * info.strideWidth - info.padInfo.left + j;
                    if (row < 0 || row >= c.x[1] || col < 0 || col >= c.x[2]) continue;
                    const index = at4(c.x, b, row, col, ch);
                    if (xv[index] > best) {
                      best = xv[index];
                      bestIndex = index;
                    }
                  }
                expected[bestIndex] += dyv[at4(yShape, b, oy, ox, ch)];
              }
        const err = relativeError(dx.dataSync(), expected);
        assert.ok(err <= TOLERANCE, `MaxPoolGrad ${JSON.stringify(c)}: relative error ${err}`);
        tf.dispose([x, y, dy, dx]);
      });
    });

    test('MaxPoolGrad keeps the first-maximum rule with NaN, −∞ and an output that is not the input\'s pool', async () => {
      await tf.setBackend(backendName);
      const shape: Shape4 = [2, 4, 6, 3];
      const values = Float32Array.from({ length: 2 * 4 * 6 * 3 }, (_, i) => (i * 7919) % 13);
      values[0] = NaN; // a window with one NaN: the largest of the others wins
      for (const i of [at4(shape, 0, 0, 2, 1), at4(shape, 0, 0, 3, 1), at4(shape, 0, 1, 2, 1), at4(shape, 0, 1, 3, 1)]) values[i] = NaN; // all NaN: none
      for (const i of [at4(shape, 1, 2, 0, 2), at4(shape, 1, 2, 1, 2), at4(shape, 1, 3, 0, 2), at4(shape, 1, 3, 1, 2)]) values[i] = -Infinity; // all −∞: none
      const x = tf.tensor4d(values, shape);
      const dy = tf.tensor4d(Float32Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => i + 1), [2, 2, 3, 3]);
      const attrs = { filterSize: [2, 2], strides: [2, 2], pad: 'valid' };
      const expected = new Float64Array(values.length);
      const dyValues = dy.dataSync();
      for (let b = 0; b < 2; b++)
        for (let oy = 0; oy < 2; oy++)
          for (let ox = 0; ox < 3; ox++)
            for (let c = 0; c < 3; c++) {
              let best = -Infinity;
              let bestIndex = -1;
              for (const [i, j] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
                const index = at4(shape, b, 2 * oy + i, 2 * ox + j, c);
                if (values[index] > best) {
                  best = values[index];
                  bestIndex = index;
                }
              }
              if (bestIndex >= 0) expected[bestIndex] += dyValues[at4([2, 2, 3, 3], b, oy, ox, c)];
            }
      const pooled = tf.maxPool(x, 2, 2, 'valid');
      // A made-up output (every value 5) must not change where the gradient goes.
      const madeUp = tf.fill(pooled.shape, 5);
      for (const output of [pooled, madeUp]) {
        const dx = tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output }, attrs) as tf.Tensor;
        assert.deepEqual(Array.from(dx.dataSync()), Array.from(expected), output === pooled ? 'pooled output' : 'made-up output');
        dx.dispose();
      }
      tf.dispose([x, dy, pooled, madeUp]);
    });

    test('Tile matches repeating the input along every axis', async () => {
      await tf.setBackend(backendName);
      const cases: Array<{ shape: number[]; reps: number[]; dtype: 'float32' | 'int32' | 'bool' }> = [
        { shape: [1, 1, 1, 8], reps: [32, 28, 28, 1], dtype: 'float32' },
        { shape: [2, 3], reps: [3, 2], dtype: 'float32' },
        { shape: [2, 1, 3], reps: [1, 4, 2], dtype: 'int32' },
        { shape: [4], reps: [3], dtype: 'bool' },
        { shape: [2, 2], reps: [1, 0], dtype: 'float32' },
        { shape: [3, 2, 2, 1], reps: [2, 1, 3, 5], dtype: 'float32' },
      ];
      for (const c of cases) {
        const size = c.shape.reduce((a, b) => a * b, 1);
        const values = Array.from({ length: size }, (_, i) => (c.dtype === 'bool' ? i % 3 === 0 : i * 1.5 - 2)) as number[] | boolean[];
        const x = tf.tensor(values, c.shape, c.dtype);
        const tiled = tf.tile(x, c.reps);
        const outShape = c.shape.map((s, i) => s * c.reps[i]);
        assert.deepEqual(tiled.shape, outShape);
        const source = x.dataSync();
        const expected = Array.from({ length: tiled.size }, (_, flat) => {
          let sourceIndex = 0;
          let rest = flat;
          let outStride = tiled.size;
          let inStride = size;
          for (let axis = 0; axis < outShape.length; axis++) {
            outStride /= outShape[axis];
            inStride /= c.shape[axis];
            const coordinate = Math.floor(rest / outStride) % c.shape[axis];
            rest %= outStride;
            sourceIndex += coordinate * inStride;
          }
          return source[sourceIndex];
        });
        assert.deepEqual(Array.from(tiled.dataSync()), expected, JSON.stringify(c));
        tf.dispose([x, tiled]);
      }
    });
  });
}
