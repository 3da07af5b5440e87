import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiagnoser } from '../src/shared/rules/index';
import type { DiagnosisContext } from '../src/shared/diagnosis';
import type { Finding } from '../src/shared/findings';
import type { LayerInfo } from '../src/shared/model';
import type { LayerStepStats, StepStats } from '../src/shared/stats';
import type { OptimizerName } from '../src/shared/codes';

// ──── synthetic histories ────

interface LayerSpec {
  name: string;
  className?: string;
  activation?: string;
  /** Kernel element count (fan-in × units) and units, so the rules can derive fan-in. */
  size: number;
  units: number;
}

const RANGE = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };

function context(layers: LayerSpec[], optimizer: OptimizerName = 'adam', learningRate = 0.001): DiagnosisContext {
  const infos: LayerInfo[] = layers.map((l) => ({
    name: l.name,
    className: l.className ?? 'Conv2D',
    range: RANGE,
    activation: l.activation,
    outputShape: [8, 8, l.units],
    instrumented: true,
  }));
  return {
    layers: infos,
    numClasses: 10,
    options: { steps: 60, batchSize: 32, learningRate, optimizer, loss: 'categoricalCrossentropy', data: 'synthetic', seed: 1, backend: 'cpu' },
  };
}

/** A layer's statistics from its gradient L2 (the FACTS.md figures are L2 norms) and weight scale. */
function layerStats(spec: LayerSpec, gradL2: number, extra: Partial<LayerStepStats> = {}): LayerStepStats {
  const heStd = Math.sqrt(2 / (spec.size / spec.units));
  return {
    layer: spec.name,
    gradL2,
    gradRms: gradL2 / Math.sqrt(spec.size),
    gradMeanAbs: (gradL2 / Math.sqrt(spec.size)) * 0.8,
    gradMaxAbs: gradL2,
    gradZeroFraction: 0,
    gradNonFinite: Number.isFinite(gradL2) ? 0 : spec.size,
    weightL2: heStd * Math.sqrt(spec.size),
    updateRatio: 2e-3,
    ...extra,
  };
}

/** Deterministic batch noise, so the "same input → same findings" test means something. */
function noise(step: number, amplitude: number): number {
  return amplitude * Math.sin(step * 12.9898 + 78.233);
}

function run(ctx: DiagnosisContext, steps: StepStats[]): { live: Finding[]; all: Finding[] } {
  const diagnoser = createDiagnoser(ctx);
  const live = steps.flatMap((s) => diagnoser.observe(s));
  return { live, all: [...live, ...diagnoser.finish()] };
}

function problems(findings: Finding[]): Finding[] {
  return findings.filter((f) => f.severity !== 'info');
}

// ──── the 10-conv sigmoid net of FACTS.md ────

const SIGMOID_L2 = [9.9e-8, 8.4e-7, 4.2e-6, 2.2e-5, 8.9e-5, 4.2e-4, 2.1e-3, 8.8e-3, 0.04, 0.198];
const sigmoidLayers: LayerSpec[] = SIGMOID_L2.map((_, i) => ({
  name: i === 0 ? 'conv2d' : `conv2d_${i}`,
  activation: 'sigmoid',
  size: i === 0 ? 72 : 576,
  units: 8,
}));

function sigmoidHistory(steps: number): StepStats[] {
  return Array.from({ length: steps }, (_, step) => ({
    step,
    loss: Math.log(10) + noise(step, 0.01),
    layers: sigmoidLayers.map((spec, i) => layerStats(spec, SIGMOID_L2[i] * (1 + noise(step + i, 0.1)), { activationStd: 0.05, saturatedFraction: 0 })),
  }));
}

test('10-conv sigmoid net (FACTS.md step-0 norms, loss at ln 10) → vanishing error at the first conv', () => {
  const { all } = run(context(sigmoidLayers), sigmoidHistory(60));
  const vanishing = all.find((f) => f.code === 'vanishing-gradient');
  assert.ok(vanishing, JSON.stringify(all));
  assert.equal(vanishing.severity, 'error');
  assert.equal(vanishing.layer, 'conv2d');
  assert.ok((vanishing.evidence.ratioToLast as number) < 1e-3);
  assert.match(vanishing.message, /conv2d gradient RMS .* of the last layer's \(conv2d_9\).*ln 10 after 10 steps/, 'decided live on the 10th step: 1e-6 of the last layer on every step is far past both limits');
  assert.ok(vanishing.relatedLayers?.includes('conv2d_9'));
  // The root cause explains the lack of progress: no separate slow-convergence or learning-rate finding.
  assert.deepEqual(problems(all).map((f) => f.code), ['vanishing-gradient']);
});

/** The step indices at which the vanishing finding was emitted live. */
function vanishingLiveAt(ctx: DiagnosisContext, history: StepStats[]): { liveAt: number[]; live: Finding[]; atEnd: Finding[] } {
  const diagnoser = createDiagnoser(ctx);
  const liveAt: number[] = [];
  const live: Finding[] = [];
  for (const step of history) {
    for (const finding of diagnoser.observe(step)) {
      if (finding.code !== 'vanishing-gradient') continue;
      liveAt.push(step.step);
      live.push(finding);
    }
  }
  return { liveAt, live, atEnd: diagnoser.finish().filter((f) => f.code === 'vanishing-gradient') };
}

/** The sigmoid net with its first layer's gradient scaled, so that its ratio to the last layer's is about `ratio`. */
function sigmoidHistoryAtRatio(steps: number, ratio: (step: number) => number): StepStats[] {
  const rmsOf = (i: number) => SIGMOID_L2[i] / Math.sqrt(sigmoidLayers[i].size);
  return sigmoidHistory(steps).map((s) => ({
    ...s,
    layers: s.layers.map((l, i) => (i === 0 ? layerStats(sigmoidLayers[0], ratio(s.step) * (rmsOf(9) / rmsOf(0)) * SIGMOID_L2[0] * (1 + noise(s.step, 0.1)), { activationStd: 0.05, saturatedFraction: 0 }) : l)),
  }));
}

test('a gradient vanished far past both limits on every step, with the loss stuck at chance, is reported live after 10 steps, once', () => {
  const { liveAt, atEnd } = vanishingLiveAt(context(sigmoidLayers), sigmoidHistory(60));
  assert.deepEqual(liveAt, [9], 'emitted once, on the 10th step');
  assert.equal(atEnd.length, 0, 'not again at the end');
});

test('the early live vanishing finding names what the end of the run would: code, severity, layer, vanished layers', () => {
  const history = sigmoidHistory(100);
  const early = vanishingLiveAt(context(sigmoidLayers), history).live[0];
  const ctx = context(sigmoidLayers);
  // The same run judged only at step 50 and at its end: no early checkpoint.
  const lateCtx = { ...ctx, options: { ...ctx.options, thresholds: { vanishingEarlySteps: 1e9 } as never } };
  const late = vanishingLiveAt(lateCtx, history);
  assert.deepEqual(late.liveAt, [49]);
  const pick = (f: Finding) => ({ code: f.code, severity: f.severity, layer: f.layer, vanishedLayers: f.evidence.vanishedLayers, related: f.relatedLayers });
  assert.deepEqual(pick(early), pick(late.live[0]));
});

test('vanishing only just past the ratio limit (5e-4 of the last layer) waits for step 50: not overwhelming evidence', () => {
  const { liveAt } = vanishingLiveAt(context(sigmoidLayers), sigmoidHistoryAtRatio(60, () => 5e-4));
  assert.deepEqual(liveAt, [49]);
});

test('one step on which the first layer looked alive keeps the early check quiet; step 50 decides on the medians', () => {
  const { liveAt } = vanishingLiveAt(context(sigmoidLayers), sigmoidHistoryAtRatio(60, (step) => (step === 3 ? 2e-3 : 1e-6)));
  assert.deepEqual(liveAt, [49]);
});

test('vanished gradients while the loss drifts below chance early wait for step 50 (the run may be learning)', () => {
  const drifting = sigmoidHistory(60).map((s) => ({ ...s, loss: Math.log(10) * (0.95 + noise(s.step, 0.005)) }));
  const { liveAt } = vanishingLiveAt(context(sigmoidLayers), drifting);
  assert.deepEqual(liveAt, [49]);
});

test('vanishing while the loss still falls waits for the end of the run (info there), never live', () => {
  const falling = sigmoidHistory(120).map((s) => ({ ...s, loss: Math.log(10) * (1 - 0.006 * s.step) }));
  const { live, all } = run(context(sigmoidLayers), falling);
  assert.equal(live.filter((f) => f.code === 'vanishing-gradient').length, 0);
  assert.equal(all.find((f) => f.code === 'vanishing-gradient')?.severity, 'info');
});

test('every number a message quotes is in its evidence', () => {
  const { all } = run(context(sigmoidLayers), sigmoidHistory(60));
  for (const finding of all) {
    for (const value of Object.values(finding.evidence)) {
      assert.ok(['number', 'string', 'boolean'].includes(typeof value), `${finding.code} evidence holds ${typeof value}`);
    }
    assert.ok(Object.keys(finding.evidence).length > 0, finding.code);
  }
});

// ──── exploding: 3e3 → 4e9 → 3e16 → NaN (FACTS.md) ────

const explodingLayers: LayerSpec[] = [
  { name: 'conv2d', activation: 'relu', size: 72, units: 8 },
  { name: 'conv2d_1', activation: 'relu', size: 576, units: 8 },
  { name: 'dense', className: 'Dense', activation: 'linear', size: 5120, units: 10 },
];

function explodingHistory(): StepStats[] {
  const norms = [3e3, 4e9, 3e16, NaN];
  const losses = [40, 9e4, 2e11, NaN];
  return norms.map((norm, step) => ({
    step,
    loss: losses[step],
    layers: explodingLayers.map((spec, i) => layerStats(spec, norm / (i + 1), { updateRatio: step === 0 ? 6.75 : 50 })),
  }));
}

test('exploding norms 3e3 → 4e9 → 3e16 → NaN → exploding and non-finite errors, live', () => {
  const { live, all } = run(context(explodingLayers, 'sgd', 0.01), explodingHistory());
  const exploding = live.find((f) => f.code === 'exploding-gradient');
  const nonFinite = live.find((f) => f.code === 'non-finite');
  assert.ok(exploding, 'exploding is reported during the run');
  assert.ok(nonFinite, 'non-finite is reported during the run');
  assert.equal(exploding.severity, 'error');
  assert.equal(exploding.layer, 'conv2d');
  assert.ok((exploding.evidence.peakRms as number) >= 1e2, "a step-0 RMS of ~350 is already far above any healthy layer");
  assert.equal(nonFinite.severity, 'error');
  assert.equal(nonFinite.step, 3);
  assert.ok(!all.some((f) => f.code === 'vanishing-gradient'));
  // SGD update/weight 6.75 at step 0: the learning rate is named too.
  assert.ok(all.some((f) => f.code === 'learning-rate-too-high'));
});

test('non-finite: a norm that overflows float32 while every value is finite says so, not "0 non-finite values"', () => {
  // The large-init PyTorch sample at step 1: values ~1e20, finite, whose squares' sum is Infinity.
  const steps: StepStats[] = [0, 1].map((step) => ({
    step,
    loss: step === 0 ? 1.7e4 : 2.2e21,
    layers: explodingLayers.map((spec, i) =>
      layerStats(spec, step === 0 ? 3e3 : 1e20, step === 1 && i === 0 ? { gradL2: Infinity, gradRms: Infinity, gradNonFinite: 0, gradMaxAbs: 4e20 } : {}),
    ),
  }));
  const nonFinite = run(context(explodingLayers, 'sgd', 0.01), steps).all.find((f) => f.code === 'non-finite');
  assert.ok(nonFinite);
  assert.equal(nonFinite.layer, explodingLayers[0].name);
  assert.match(nonFinite.message, /gradient norm overflows float32 \(RMS Infinity, every value finite, the largest 4\.0e20\)/);
  assert.doesNotMatch(nonFinite.message, /0 non-finite values/);
});

test('softmax trap: exactly-zero gradients with loss 14 read as exploding, not vanishing', () => {
  const steps: StepStats[] = Array.from({ length: 40 }, (_, step) => ({
    step,
    loss: 14 + noise(step, 0.5),
    layers: explodingLayers.map((spec) => layerStats(spec, 0, { gradRms: 0, gradZeroFraction: 1, deadFraction: 1 })),
  }));
  const { all } = run(context(explodingLayers), steps);
  assert.ok(all.some((f) => f.code === 'exploding-gradient' && f.severity === 'error'), JSON.stringify(all));
  assert.ok(!all.some((f) => f.code === 'vanishing-gradient'));
});

// ──── healthy histories ────

const lenetLayers: LayerSpec[] = [
  { name: 'conv2d', activation: 'relu', size: 150, units: 6 },
  { name: 'conv2d_1', activation: 'relu', size: 2400, units: 16 },
  { name: 'dense', className: 'Dense', activation: 'relu', size: 30720, units: 120 },
  { name: 'dense_1', className: 'Dense', activation: 'softmax', size: 1200, units: 10 },
];

function healthyHistory(ratios: number[], steps = 60): StepStats[] {
  return Array.from({ length: steps }, (_, step) => ({
    step,
    loss: 2.3 * Math.exp(-step / 30) + 0.4 + noise(step, 0.08),
    layers: lenetLayers.map((spec, i) => layerStats(spec, ratios[i] * Math.sqrt(spec.size) * 0.01 * (1 + noise(step + i, 0.2)), { deadFraction: 0.1 })),
  }));
}

test('healthy LeNet history → nothing above info', () => {
  const { all } = run(context(lenetLayers), healthyHistory([0.5, 0.8, 1.2, 1]));
  assert.deepEqual(problems(all), []);
});

test('healthy shallow net with a large first/last ratio but falling loss → at most info', () => {
  const { all } = run(context(lenetLayers), healthyHistory([1e-5, 1e-4, 0.5, 1]));
  const vanishing = all.find((f) => f.code === 'vanishing-gradient');
  assert.ok(vanishing, 'the symptom is still reported');
  assert.equal(vanishing.severity, 'info');
  assert.deepEqual(problems(all), []);
});

// ──── activation and learning-rate rules ────

test('dead ReLU layer with a stuck loss → dying-relu at that layer', () => {
  const steps: StepStats[] = Array.from({ length: 60 }, (_, step) => ({
    step,
    loss: 2.3 + noise(step, 0.02),
    layers: lenetLayers.map((spec, i) => layerStats(spec, 0.01 * Math.sqrt(spec.size), { deadFraction: i === 1 ? 0.95 : 0.2, gradZeroFraction: i === 1 ? 0.95 : 0 })),
  }));
  const { all } = run(context(lenetLayers), steps);
  const dying = all.find((f) => f.code === 'dying-relu');
  assert.ok(dying, JSON.stringify(all));
  assert.equal(dying.layer, 'conv2d_1');
  assert.equal(dying.severity, 'error');
  assert.ok(!all.some((f) => f.code === 'slow-convergence'), 'explained by the dead layer');
});

test('tiny updates and a flat loss → learning-rate-too-low', () => {
  const steps: StepStats[] = Array.from({ length: 60 }, (_, step) => ({
    step,
    loss: 2.45 - step * 1e-4 + noise(step, 0.02),
    layers: lenetLayers.map((spec) => layerStats(spec, 0.01 * Math.sqrt(spec.size), { updateRatio: 3e-7 })),
  }));
  const { all } = run(context(lenetLayers, 'adam', 1e-6), steps);
  assert.deepEqual(problems(all).map((f) => f.code), ['learning-rate-too-low']);
});

test('a run too short to judge progress gets no slow-convergence or learning-rate-too-low; the same loss over 60 steps does', () => {
  const flat = (length: number): StepStats[] =>
    Array.from({ length }, (_, step) => ({
      step,
      loss: 2.3 + noise(step, 0.02),
      layers: lenetLayers.map((spec) => layerStats(spec, 0.01 * Math.sqrt(spec.size), { updateRatio: 3e-7 })),
    }));
  assert.deepEqual(problems(run(context(lenetLayers, 'adam', 1e-6), flat(40)).all), []);
  assert.deepEqual(problems(run(context(lenetLayers, 'adam', 1e-6), flat(60)).all).map((f) => f.code), ['learning-rate-too-low']);
  assert.deepEqual(problems(run(context(lenetLayers), flat(40).map((s) => ({ ...s, layers: s.layers.map((l) => ({ ...l, updateRatio: 1e-3 })) }))).all), []);
  assert.deepEqual(problems(run(context(lenetLayers), flat(60).map((s) => ({ ...s, layers: s.layers.map((l) => ({ ...l, updateRatio: 1e-3 })) }))).all).map((f) => f.code), ['slow-convergence']);
});

test('a loss that swings up and down without falling, at updates of ~1e-3 → oscillating-loss (the rate does not explain it)', () => {
  const steps: StepStats[] = Array.from({ length: 60 }, (_, step) => ({
    step,
    loss: step % 2 ? 4 : 1.5,
    layers: lenetLayers.map((spec) => layerStats(spec, 0.01 * Math.sqrt(spec.size), { updateRatio: 1e-3 })),
  }));
  const { all } = run(context(lenetLayers, 'sgd', 0.5), steps);
  assert.ok(all.some((f) => f.code === 'oscillating-loss' && f.severity === 'warning'), JSON.stringify(all));
  assert.ok(!all.some((f) => f.code === 'learning-rate-too-high'), JSON.stringify(all));
});

test('the same swings under SGD moving the weights 5e-2 of their norm per step → learning-rate-too-high, which takes over oscillating-loss', () => {
  const steps: StepStats[] = Array.from({ length: 60 }, (_, step) => ({
    step,
    loss: step % 2 ? 4 : 1.5,
    layers: lenetLayers.map((spec) => layerStats(spec, 0.01 * Math.sqrt(spec.size), { updateRatio: 0.05 })),
  }));
  const { all } = run(context(lenetLayers, 'sgd', 0.5), steps);
  const high = all.find((f) => f.code === 'learning-rate-too-high');
  assert.ok(high && high.severity !== 'info', JSON.stringify(all));
  assert.ok(!all.some((f) => f.code === 'oscillating-loss'), JSON.stringify(all));
  // Under Adam the same ratio is a weak signal (FACTS.md): without a range test it is not enough.
  assert.ok(!run(context(lenetLayers, 'adam', 0.5), steps).all.some((f) => f.code === 'learning-rate-too-high'));
});

test('weights 10× the He scale at step 0 → poor-initialization', () => {
  const steps: StepStats[] = Array.from({ length: 30 }, (_, step) => ({
    step,
    loss: 2.3 + noise(step, 0.02),
    layers: lenetLayers.map((spec) => {
      const stats = layerStats(spec, 0.01 * Math.sqrt(spec.size));
      return { ...stats, weightL2: stats.weightL2 * 10 };
    }),
  }));
  const { all } = run(context(lenetLayers), steps);
  const poor = all.find((f) => f.code === 'poor-initialization');
  assert.ok(poor, JSON.stringify(all));
  assert.equal(poor.layer, 'conv2d');
  assert.ok(Math.abs((poor.evidence.scaleOverIntended as number) - 10) < 0.1);
});

test('same steps in → same findings out', () => {
  const first = run(context(sigmoidLayers), sigmoidHistory(60)).all;
  const second = run(context(sigmoidLayers), sigmoidHistory(60)).all;
  assert.deepEqual(first, second);
});

test('observe stays cheap over a long diverged run (10,000 steps × 20 layers)', () => {
  const layers: LayerSpec[] = Array.from({ length: 20 }, (_, i) => ({ name: `conv2d_${i}`, activation: 'tanh', size: 576, units: 8 }));
  const diagnoser = createDiagnoser(context(layers, 'sgd', 2));
  const started = Date.now();
  for (let step = 0; step < 10_000; step++) {
    diagnoser.observe({ step, loss: step % 2 ? 210 : 90, layers: layers.map((spec) => layerStats(spec, 0.5, { saturatedFraction: 1, updateRatio: 1 })) });
  }
  const findings = diagnoser.finish();
  const elapsed = Date.now() - started;
  // Quadratic work over the history would take minutes here; linear takes about a second.
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  // SGD at lr 2 moving the weights by their own norm each step: the rate explains the swings.
  assert.ok(findings.some((f) => f.code === 'learning-rate-too-high'));
  assert.ok(!findings.some((f) => f.code === 'oscillating-loss'));
});

test("the user's thresholds replace the table's: a stricter vanishing ratio moves the finding, a looser one drops it", () => {
  const history = sigmoidHistory(60);
  const withRatio = (vanishingRatio: number) => {
    const ctx = context(sigmoidLayers);
    ctx.options = { ...ctx.options, thresholds: { vanishingRatio } };
    return run(ctx, history).all.find((f) => f.code === 'vanishing-gradient');
  };
  const byDefault = run(context(sigmoidLayers), history).all.find((f) => f.code === 'vanishing-gradient');
  const strict = withRatio(1e-5);
  assert.ok(byDefault && strict);
  assert.equal(strict.layer, byDefault.layer, 'the earliest vanished layer is still the first conv');
  assert.match(strict.message, /layers below 1\.0e-5 of it|below 1e-5/, strict.message);
  assert.notEqual(strict.message, byDefault.message, 'the message quotes the threshold in use');
  assert.equal(withRatio(1e-9), undefined, 'no layer is below 1e-9 of the last');
});
