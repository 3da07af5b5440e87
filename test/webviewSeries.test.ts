// The panel's bounded history: memory and points stay fixed however many steps arrive, and
// downsampling keeps the extremes (a gradient spike must not vanish from the chart).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BucketedSeries } from '../webview/seriesStore';

test('points stay within twice the bucket capacity over 100,000 steps', () => {
  const series = new BucketedSeries(3, 50, true);
  for (let step = 0; step < 100_000; step++) series.append(step, [1 + (step % 7), 2, 3]);
  assert.equal(series.stepCount, 100_000);
  for (let s = 0; s < 3; s++) {
    const points = series.points(s);
    assert.ok(points.length >= 25 && points.length <= 100, `${points.length} points`);
    for (let k = 1; k < points.length; k++) assert.ok(points[k].x > points[k - 1].x, 'points are in step order');
  }
});

test('a one-step spike and dip survive downsampling, at their own steps', () => {
  const series = new BucketedSeries(1, 20, true);
  for (let step = 0; step < 10_000; step++) {
    const value = step === 4321 ? 1e3 : step === 8765 ? 1e-9 : 1e-3;
    series.append(step, [value]);
  }
  const points = series.points(0);
  assert.deepEqual(
    points.find((p) => p.y === 1e3),
    { x: 4321, y: 1e3 },
  );
  assert.deepEqual(
    points.find((p) => p.y === 1e-9),
    { x: 8765, y: 1e-9 },
  );
});

test('values a log axis cannot show are left out, and a series without any draws nothing', () => {
  const series = new BucketedSeries(2, 10, true);
  series.append(0, [0, NaN]);
  series.append(1, [Infinity, NaN]);
  series.append(2, [0.5, NaN]);
  assert.deepEqual(series.points(0), [{ x: 2, y: 0.5 }]);
  assert.deepEqual(series.points(1), []);
});

test('a linear series keeps zero and negative values', () => {
  const series = new BucketedSeries(1, 10, false);
  series.append(0, [0]);
  series.append(1, [-2]);
  assert.deepEqual(series.points(0), [
    { x: 0, y: 0 },
    { x: 1, y: -2 },
  ]);
});
