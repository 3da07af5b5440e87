// Colour classes of the gradient-flow bars (thresholds from AUTOTRAINER, see webview/health.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyFlow } from '../webview/health';

test('layers far below the last layer are vanishing, far above exploding', () => {
  assert.deepEqual(classifyFlow([1e-9, 1e-5, 1e-2, 5, 1e-2], [false, false, false, false, false]), [
    'vanishing',
    'healthy',
    'healthy',
    'exploding',
    'healthy',
  ]);
});

test('non-finite values and counts are flagged, and the reference skips them', () => {
  assert.deepEqual(classifyFlow([1e-3, NaN, 1e-3, 2e-3], [false, false, false, true]), ['healthy', 'non-finite', 'healthy', 'non-finite']);
});

test('a net where every layer blows up or dies together is still coloured', () => {
  assert.deepEqual(classifyFlow([1e6, 2e6], [false, false]), ['exploding', 'exploding']);
  assert.deepEqual(classifyFlow([1e-12, 1e-12], [false, false]), ['vanishing', 'vanishing']);
  assert.deepEqual(classifyFlow([0, 0], [false, false]), ['vanishing', 'vanishing']);
});

test("the user's thresholds move where bars turn vanishing or exploding", () => {
  const rms = [1e-6, 1e-5, 1e-2, 1e-1];
  const none = [false, false, false, false];
  assert.deepEqual(classifyFlow(rms, none), ['vanishing', 'vanishing', 'healthy', 'healthy']);
  assert.deepEqual(classifyFlow(rms, none, { vanishingRatio: 1e-4, explodingRatio: 70 }), ['vanishing', 'healthy', 'healthy', 'healthy']);
  assert.deepEqual(classifyFlow([5, 0.1], [false, false], { vanishingRatio: 1e-3, explodingRatio: 20 }), ['exploding', 'healthy']);
  assert.deepEqual(classifyFlow([5, 0.1], [false, false]), ['healthy', 'healthy']);
});
