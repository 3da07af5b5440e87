import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiagnoser, suspectsLearningRate } from '../src/shared/rules/index';
import { analyseLrRange, DEFAULT_LR_SWEEP, roundRate, sweepRate, type LrRangeResult } from '../src/shared/lrRange';
import { planFixes } from '../src/shared/fixes/index';
import { compareOutcomes, topFinding } from '../src/engine/train/compareFixes';
import { rankFixesByComparison } from '../src/shared/fixes/comparison';
import type { DiagnosisContext } from '../src/shared/diagnosis';
import type { Finding, RunOutcome } from '../src/shared/findings';
import type { StepStats } from '../src/shared/stats';
import type { OptimizerName } from '../src/shared/codes';

// ──── a LeNet-like history, and a range test measured for it ────

const RANGE = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };
const LAYERS = ['conv2d', 'conv2d_1', 'dense'];

function context(optimizer: OptimizerName, learningRate: number): DiagnosisContext {
  return {
    layers: LAYERS.map((name) => ({ name, className: name === 'dense' ? 'Dense' : 'Conv2D', range: RANGE, activation: 'relu', outputShape: [8, 8, 8], instrumented: true })),
    numClasses: 10,
    options: { steps: 60, batchSize: 32, learningRate, optimizer, loss: 'categorical_crossentropy', data: 'synthetic', seed: 1, backend: 'cpu' },
  };
}

const noise = (step: number, amplitude: number) => amplitude * Math.sin(step * 12.9898 + 78.233);

/** Steps with this loss curve and update ratio; gradients at a healthy, uniform scale. */
function history(loss: (step: number) => number, updateRatio: number, steps = 60): StepStats[] {
  return Array.from({ length: steps }, (_, step) => ({
    step,
    loss: loss(step),
    accuracy: 0.3,
    layers: LAYERS.map((layer) => ({ layer, gradL2: 0.5, gradRms: 0.01, gradMeanAbs: 0.008, gradMaxAbs: 0.05, gradZeroFraction: 0, gradNonFinite: 0, weightL2: 5, updateRatio, deadFraction: 0.1 })),
  }));
}

/** A range test whose loss falls fastest around `center` (a textbook curve, as measured). */
function rangeTest(center: number, currentLr: number): LrRangeResult {
  const raw = Array.from({ length: 80 }, (_, i) => {
    const lr = sweepRate(DEFAULT_LR_SWEEP, i);
    const x = Math.log10(lr / center);
    return { lr, loss: 2.3 - 1.6 / (1 + Math.exp(-3 * x)) + (x > 1.3 ? Math.pow(10, x - 1.3) : 0) + noise(i, 0.02) };
  });
  return analyseLrRange(raw, DEFAULT_LR_SWEEP, 'adam', currentLr, 900, Math.log(10));
}

function diagnose(ctx: DiagnosisContext, steps: StepStats[], lrRange?: LrRangeResult): Finding[] {
  const diagnoser = createDiagnoser(ctx);
  const live = steps.flatMap((s) => diagnoser.observe(s));
  return [...live, ...diagnoser.finish({ lrRange })].filter((f) => f.severity !== 'info');
}

/** Adam at 0.1: the loss dips and comes back, swinging, never non-finite (the eval's lr-too-high-tanh-adam case). */
const jumpy = (step: number) => (step < 20 ? 2.3 - step * 0.06 : 1.4 + (step - 20) * 0.025) + noise(step, 0.3);

test('a rate far above the range test\'s region with a loss that climbs back → learning-rate-too-high quoting the measurement, no explosion needed', () => {
  const ctx = context('adam', 0.1);
  const steps = history(jumpy, 0.02);
  assert.ok(suspectsLearningRate(ctx, steps), 'the run suspects its rate, so the engine runs the range test');
  // Under Adam, with no range test, the update ratio of 0.02 proves nothing (FACTS.md).
  assert.ok(!diagnose(ctx, steps).some((f) => f.code === 'learning-rate-too-high'));
  const range = rangeTest(2e-3, 0.1);
  const findings = diagnose(ctx, steps, range);
  const high = findings.find((f) => f.code === 'learning-rate-too-high');
  assert.ok(high, JSON.stringify(findings));
  assert.match(high.message, /^lr 0\.1 is \d+× the range test's [\d.e-]+/);
  assert.equal(high.evidence.suggestedLearningRate, Number(range.suggestedLr!.toPrecision(4)));
  assert.ok((high.evidence.rateOverSuggestion as number) >= 10);
  // The oscillation is the rate's: no separate oscillating-loss warning.
  assert.ok(!findings.some((f) => f.code === 'oscillating-loss'));

  const fixes = planFixes(high, { text: '{"class_name":"Sequential","config":{"layers":[]}}', format: 'keras2', layers: ctx.layers, options: ctx.options, lrRange: range });
  assert.equal(fixes[0].code, 'lower-learning-rate');
  assert.match(fixes[0].title, /to [\d.e-]+ \(the range test's suggestion\)/);
});

test('a run too short to judge its loss never pays for an automatic range test', () => {
  const ctx = context('adam', 0.1);
  const steps = history(jumpy, 0.02);
  assert.ok(suspectsLearningRate(ctx, steps), 'the whole run suspects its rate');
  assert.equal(suspectsLearningRate(ctx, steps.slice(0, 49)), false, '49 steps: too short to judge progress');
  assert.equal(suspectsLearningRate(ctx, steps.slice(0, 1)), false, 'one step (the fuzzer\'s runs)');
});

test('the same loss with the rate inside the range test\'s region → no learning-rate finding', () => {
  const ctx = context('adam', 3e-3);
  const findings = diagnose(ctx, history(jumpy, 0.02), rangeTest(2e-3, 3e-3));
  assert.ok(!findings.some((f) => f.code.startsWith('learning-rate')), JSON.stringify(findings));
});

test('a healthy run suspects nothing (the range test costs nothing extra), even far from the suggestion', () => {
  const ctx = context('adam', 1e-3);
  const healthy = history((step) => 2.3 * Math.exp(-step / 25) + 0.3 + noise(step, 0.05), 2e-3);
  assert.equal(suspectsLearningRate(ctx, healthy), false);
  assert.deepEqual(diagnose(ctx, healthy, rangeTest(0.05, 1e-3)), []);
});

test('updates of 3e-5 of the weights with a flat loss are too low only once the range test confirms it', () => {
  const ctx = context('adam', 1e-6);
  const flat = history((step) => 2.31 + noise(step, 0.01), 3e-5);
  // Between DeepDiagnosis' 1e-5 and TheDeepChecker's 1e-4: suspect, not proven.
  assert.ok(suspectsLearningRate(ctx, flat));
  assert.ok(!diagnose(ctx, flat).some((f) => f.code === 'learning-rate-too-low'));
  const range = rangeTest(3e-3, 1e-6);
  const low = diagnose(ctx, flat, range).find((f) => f.code === 'learning-rate-too-low');
  assert.ok(low);
  assert.match(low.message, /^lr 1e-6 is 1\/[\d.e]+ of the range test's/);
  const fixes = planFixes(low, { text: '{"class_name":"Sequential","config":{"layers":[]}}', format: 'keras2', layers: ctx.layers, options: ctx.options, lrRange: range });
  assert.equal(fixes[0].code, 'raise-learning-rate');
  const written = roundRate(range.suggestedLr!);
  assert.ok(written > 1e-3 && written < 1e-2);
  assert.ok(JSON.stringify(fixes[0].edits).includes(String(written)), `${JSON.stringify(fixes[0].edits)} writes the suggestion ${written}`);
});

test('a rate the range test finds right keeps the update-ratio heuristics from calling it wrong', () => {
  // SGD whose first updates are 2e-2 of the weights, on a loss that does not learn: suspect…
  const ctx = context('sgd', 0.05);
  const stalled = history((step) => 2.3 + noise(step, 0.05), 2e-2);
  assert.ok(diagnose(ctx, stalled).some((f) => f.code === 'learning-rate-too-high'));
  // …but the range test puts 0.05 inside its good region: the rate is not the problem.
  const sgdRange = rangeTest(0.04, 0.05);
  assert.ok(!diagnose(ctx, stalled, sgdRange).some((f) => f.code === 'learning-rate-too-high'));
});

test('change-optimizer says what the range test measured under the current optimizer', () => {
  const ctx = context('sgd', 1e-5);
  const range = { ...rangeTest(0.05, 1e-5), optimizer: 'sgd' };
  const finding: Finding = { code: 'learning-rate-too-low', severity: 'warning', message: '', evidence: {}, fixes: [] };
  const fixes = planFixes(finding, { text: '{"class_name":"Sequential","config":{"layers":[]}}', format: 'keras2', layers: ctx.layers, options: ctx.options, lrRange: range });
  const change = fixes.find((f) => f.code === 'change-optimizer');
  assert.ok(change);
  assert.match(change.title, /range test under sgd suggests [\d.e-]+ \(the current 0\.00001 is 1\/\d+ of its suggestion\)/);
});

// ──── --compare-fixes ranking ────

const outcome = (finalLoss: number, accuracy: number, firstLastRatio = 1, deadFraction = 0): RunOutcome => ({ finalLoss, accuracy, firstLastRatio, deadFraction, loss: [], steps: 100, durationMs: 1 });

test('fixes rank by final loss, non-finite last; near-equal losses by accuracy, then gradient flow, then dead units', () => {
  const ranked = [outcome(NaN, 0.9), outcome(1.2, 0.5), outcome(0.6, 0.7), outcome(2.3, 0.1)].sort(compareOutcomes);
  assert.deepEqual(ranked.map((o) => o.finalLoss), [0.6, 1.2, 2.3, NaN]);
  assert.ok(compareOutcomes(outcome(0.61, 0.8), outcome(0.6, 0.7)) < 0, 'within 4 %: the more accurate first');
  assert.ok(compareOutcomes(outcome(0.6, 0.7, 1e-6), outcome(0.6, 0.7, 0.5)) > 0, 'then the healthier gradient flow');
  assert.ok(compareOutcomes(outcome(0.6, 0.7, 1, 0.5), outcome(0.6, 0.7, 1, 0)) > 0, 'then fewer dead units');
});

test('the top finding is the most severe one, preferring one with several fixes to weigh', () => {
  const fix = { code: 'use-relu' as const, title: '', edits: [] };
  const findings: Finding[] = [
    { code: 'saturated-activation', severity: 'info', message: '', evidence: {}, fixes: [fix, fix] },
    { code: 'non-finite', severity: 'error', message: '', evidence: {}, fixes: [fix] },
    { code: 'vanishing-gradient', severity: 'error', message: '', evidence: {}, fixes: [fix, fix, fix] },
  ];
  assert.equal(topFinding(findings)?.code, 'vanishing-gradient');
  assert.equal(topFinding([findings[0]])?.code, 'saturated-activation');
  assert.equal(topFinding([]), undefined);
});

test('after a comparison the finding\'s fixes follow the measured ranking, each title carrying its result', () => {
  const fix = (code: 'use-relu' | 'add-batch-normalization' | 'change-initializer', title: string) => ({ code, title, edits: [] });
  const findings: Finding[] = [
    { code: 'vanishing-gradient', severity: 'error', layer: 'conv2d', message: '', evidence: {}, fixes: [fix('use-relu', 'Use ReLU'), fix('add-batch-normalization', 'Add BatchNormalization'), fix('change-initializer', 'Change the initializer')] },
    { code: 'slow-convergence', severity: 'warning', message: '', evidence: {}, fixes: [fix('use-relu', 'Use ReLU')] },
  ];
  const ranked = rankFixesByComparison(findings, {
    findingCode: 'vanishing-gradient',
    layer: 'conv2d',
    baseline: outcome(2.302, 0.1),
    candidates: [
      { fixCode: 'add-batch-normalization', title: '', rank: 1, outcome: outcome(0.61, 0.8), remaining: [] },
      { fixCode: 'use-relu', title: '', rank: 2, outcome: outcome(0.9, 0.7), remaining: [] },
      { fixCode: 'change-initializer', title: '', rank: 0, remaining: [], error: 'failed' },
    ],
    parallel: 2,
    durationMs: 1,
  });
  assert.deepEqual(ranked[0].fixes.map((f) => f.code), ['add-batch-normalization', 'use-relu', 'change-initializer']);
  assert.equal(ranked[0].fixes[0].title, 'Add BatchNormalization — loss 2.30 → 0.61 in 100 steps');
  assert.equal(ranked[0].fixes[2].title, 'Change the initializer', 'a failed candidate keeps its title');
  assert.deepEqual(ranked[1], findings[1], 'other findings unchanged');
});

test('a rate finding decided by the update ratio still quotes the range test when it ran', () => {
  const ctx = context('adam', 0.01);
  // First updates of 0.3 of the weights (DeepDiagnosis' 0.1 exceeded) and a swinging loss: decided without the range test…
  const swinging = history((step) => (step % 2 ? 3.2 : 1.2), 0.3);
  const range = rangeTest(2e-3, 0.01);
  const factor = 0.01 / range.suggestedLr!;
  assert.ok(factor >= 2 && factor < 10, `a rate ${factor}× the suggestion: not far enough for the range verdict alone`);
  const high = diagnose(ctx, swinging, range).find((f) => f.code === 'learning-rate-too-high');
  assert.ok(high);
  // …and the message leads with the measurement.
  assert.match(high.message, /^lr 0\.01 is [\d.]+× the range test's [\d.e-]+; it moves /);
});

test('one Adam step with a large update ratio is no learning-rate finding (SGD\'s one step still is)', () => {
  const oneStep = history(() => 2.3, 0.5, 1);
  const adam = diagnose(context('adam', 1e-3), oneStep);
  assert.ok(!adam.some((f) => f.code === 'learning-rate-too-high'), JSON.stringify(adam.map((f) => f.code)));
  const sgd = diagnose(context('sgd', 1e-3), oneStep);
  assert.ok(sgd.some((f) => f.code === 'learning-rate-too-high'), JSON.stringify(sgd.map((f) => f.code)));
});
