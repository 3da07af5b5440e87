/**
 * Every number the rules decide with, in one place, each with where it comes from. Sources:
 * AUTOTRAINER (ICSE 2021), DeepDiagnosis (ICSE 2022), TheDeepChecker, the project's own
 * measurements in FACTS.md, and "cases" = tuned on the labelled case set in test/cases/
 * (see the `measured` notes in test/cases/cases.json).
 */
export interface Threshold {
  value: number;
  source: string;
}

function t(value: number, source: string): Threshold {
  return { value, source };
}

export const THRESHOLDS = {
  // ──── learning progress (the gate every gradient symptom needs before it is a warning) ────
  /** Steps averaged at the start and the end of the run to read the loss level through batch noise. */
  lossWindowSteps: t(5, 'cases: one batch of 32 varies the loss by ±10 %; five steps smooth it'),
  /** Loss within this fraction of ln C (chance level for C classes) counts as "stuck near ln C". */
  chanceLossBand: t(0.1, 'FACTS.md: a vanished 10-conv sigmoid net sits at 2.30 = ln 10 ± 1 %'),
  /** Loss must fall by at least this fraction of its start for the run to count as learning. */
  minRelativeImprovement: t(0.1, 'AUTOTRAINER: slow convergence = no one-step accuracy gain ≥ 0.01; cases: healthy controls fall ≥ 27 % in 60 steps'),
  /** Loss above this multiple of ln C (or rising this much over the run) counts as diverging. */
  divergingLossFactor: t(3, 'FACTS.md: an exploding net with softmax output reads loss 13–14.6 for ln C = 2.3'),
  divergingRiseFactor: t(1.5, 'cases: a final loss 1.5× the start never happened on a healthy control'),
  /** Shorter runs (a small `steps`, or a run stopped early) are too short to call the loss stuck: the progress-only rules stay silent. */
  minStepsToJudgeProgress: t(50, 'samples: the healthy small CNN (Adam 1e-3, batch 32) sits within 10 % of ln 10 after 20 steps (seed 42) and 30 (seeds 3, 4); eval --steps 40: healthy-lenet-tfjs reads slow-convergence; --steps 50: 0 of 12 healthy, recall 100 %'),

  // ──── gradients ────
  /** First/last gradient RMS ratio below which a layer's gradient has vanished. */
  vanishingRatio: t(1e-3, 'AUTOTRAINER: ‖g_first‖/‖g_last‖ < 1e-3'),
  /** …and the layer's gradient RMS is tiny in absolute terms. */
  vanishingAbsoluteRms: t(1e-4, 'AUTOTRAINER: ‖g_first‖ < 1e-4; TheDeepChecker: mean |∂L/∂W| < 1e-6'),
  /**
   * Steps after which a vanishing gradient far past both limits (below) may be reported live,
   * before progress can be judged at `minStepsToJudgeProgress` (checked at this count and its doublings).
   */
  vanishingEarlySteps: t(10, 'FACTS.md / samples/vanishing-sigmoid-10conv: first/last RMS 1.3e-7–6.6e-7 on every one of its first 50 steps (seed 42), loss within 5 % of ln 10 from step 3; 10 steps = two loss windows'),
  /** …far past: on every step so far, the layer's ratio and RMS both below this fraction of `vanishingRatio` and `vanishingAbsoluteRms`. */
  vanishingEarlyMargin: t(0.1, 'AUTOTRAINER\'s limits, ten times over; npm run eval (2026-12-04): every report of the 77 cases the same as with live checks from step 50 only (recall 100 %, 0 of 26 healthy alarmed); 8 of the 12 vanishing reports decided after 10 steps'),
  /** …and the loss's last window no lower than this fraction of ln C: a net already falling below chance may be learning (the end would call it info). */
  vanishingEarlyLossFloor: t(0.97, 'samples/vanishing-sigmoid-10conv (seed 42): 5-step medians 2.36 and 2.31 (1.02 and 1.00 ln 10) at steps 10 and 20; test/rules.test.ts: a vanished net whose loss falls 0.6 %/step reads 0.96 ln C at step 10 and ends as info'),
  /** First/last ratio above which the early layers' gradients have exploded. */
  explodingRatio: t(70, 'AUTOTRAINER: ratio > 70'),
  /** Growth of the largest layer gradient RMS over its step-0 value that counts as exploding. */
  explodingGrowth: t(1e3, 'FACTS.md: exploding norms 3e3 → 4e9 → 3e16 → NaN (×1e6 per step)'),
  /** …and the grown RMS must be large in absolute terms: a vanished gradient recovering from 1e-7 also grows 1e5×. */
  explodingGrowthMinRms: t(1, 'cases: vanishing-tanh-small-init recovers 1.2e-7 → 0.06 under Adam; healthy peak RMS ≤ 0.65'),
  /** Gradient RMS above which a layer's gradient is exploding on its own (no healthy layer reaches it). */
  explodingAbsoluteRms: t(10, 'cases: healthy controls peak at RMS 0.65; exploding-large-init starts at 72 (FACTS.md: L2 3e3 at step 0)'),

  // ──── activations ────
  /** Fraction of ReLU units never positive over the batch that makes a layer dead. */
  deadFraction: t(0.7, 'DeepDiagnosis and AUTOTRAINER: ≥ 70 % of activations ≤ 0 / gradients exactly 0'),
  /** Fraction of sigmoid/tanh outputs in the flat tails that makes a layer saturated. */
  saturatedFraction: t(0.5, 'DeepDiagnosis: > 50 % of pre-activations outside [−5, 5]'),
  /** The symptom must hold on at least this fraction of the steps (not a one-batch blip). */
  persistentFraction: t(0.5, 'cases: dead/saturated layers stay so; healthy nets show isolated batches at most'),

  // ──── weights and updates ────
  /** Weight RMS over the initializer's intended scale (He or Glorot for the layer's fan-in/out) that is poor. */
  initScaleHigh: t(2.5, 'TheDeepChecker: He/Glorot/LeCun scales; FACTS.md exploding net: stddev 0.5 over fan-in 72 = 3.0× He; Keras default Glorot on ReLU ≤ 0.7×'),
  initScaleLow: t(0.1, 'DeepDiagnosis: weight variance < 1e-5 is poor; 0.1× of He leaves a 10-layer net 1e-10 of its signal'),
  /** Per-step ‖ΔW‖/‖W‖ above which the learning rate is too high. Telling under SGD, weak under Adam. */
  updateRatioHigh: t(0.1, 'DeepDiagnosis: lr·‖ΔW‖/‖W‖ > 0.1; FACTS.md exploding SGD net 6.75 at step 0, healthy ≈ 5e-3'),
  /** Per-step ‖ΔW‖/‖W‖ below which the learning rate is too low. */
  updateRatioLow: t(1e-5, 'DeepDiagnosis: < 1e-5; TheDeepChecker: log10(ΔW/W) < −4 (1e-4) is borderline'),

  // ──── loss curve ────
  /** Median |Δloss| between steps over ln C, in the second half, above which the loss oscillates. */
  oscillationAmplitude: t(0.35, 'cases: healthy controls swing ≤ 0.02·ln C (LeNet Adam at lr 0.03: 0.13·ln C); oscillating-tanh SGD cases ≥ 15·ln C'),
  /** Fraction of consecutive loss changes that flip sign (up/down) that oscillation needs. */
  oscillationSignFlips: t(0.4, 'AUTOTRAINER: ≥ 20 % of peak/trough pairs differ; random walk flips 50 %'),

  /** Under SGD-like optimizers, an early ‖ΔW‖/‖W‖ this far above the ~1e-3 rule of thumb is a too-high rate without any explosion. */
  updateRatioHighSgd: t(1e-2, 'FACTS.md: under SGD the update ratio is telling, rule of thumb ≈ 1e-3 (healthy ≈ 5e-3); 10× of it; only with a loss that does not learn, so healthy-sgd-k2 / healthy-sgd-script-pt (SGD 0.05, learning) stay quiet'),
  /** ‖ΔW‖/‖W‖ below this, with a flat loss, makes the rate suspect of being too low (the range test confirms). */
  updateRatioLowSuspect: t(1e-4, 'TheDeepChecker: log10(mean|ΔW|/mean|W|) below −4'),
  /** Last loss window above this fraction over the lowest window: the loss rose again over the run. */
  lossRiseOverWindows: t(0.25, 'cases: 0 of 22 healthy controls alarmed with it (npm run eval); lr-too-high-bn-adam-k2 climbs 666 % back, lr-too-high-rmsprop-tanh-k2 8 %'),
  /** Median |Δloss| between steps, in the second half, over ln C, at which a rate is suspected of being too high (a softer `oscillationAmplitude`; the range test decides). */
  oscillationSuspectAmplitude: t(0.1, 'cases: healthy controls swing ≤ 0.02·ln C, LeNet Adam at lr 0.03: 0.13·ln C'),

  // ──── learning-rate range test (src/shared/lrRange.ts) ────
  /** The sweep: exponential from this rate… */
  rangeTestStartLr: t(1e-6, 'fastai lr_find: start_lr 1e-7; scripts/lr-grid.mjs --curves: below 1e-6 no reference or eval net\'s smoothed loss moved beyond batch noise, so the decade from 1e-7 was 12 steps of nothing (the sweep costs ≤ 1 plain run of 100 steps only without them)'),
  /** …to this one… */
  rangeTestEndLr: t(10, 'fastai lr_find: end_lr 10'),
  /** …over this many steps, one batch each. */
  rangeTestSteps: t(88, 'fastai lr_find and Lightning Tuner.lr_find: num_it / num_training 100 from 1e-7; 88 from 1e-6 keeps their 12.5 steps per decade (and so what the smoothing spans)'),
  /** The sweep stops once the smoothed loss exceeds this multiple of its minimum. */
  rangeTestDivergeFactor: t(4, 'Lightning Tuner.lr_find: early_stop_threshold 4.0; fastai stops at 4× the minimum'),
  /** EMA factor of the smoothed loss. fastai and Lightning use 0.98 over 100 steps: a 50-step memory, 4 decades of the sweep, which drags the curve's fall to the right. */
  rangeTestSmoothing: t(0.9, 'scripts/lr-grid.mjs: with 0.9 (a 10-step, 0.8-decade memory) the suggestion was within 3× of the grid best on 7 of 9 nets and of a rate within 10 % of the best loss on 9 of 9'),
  /** First sweep points ignored by the minimum and the steepest fall (the smoothing settles). */
  rangeTestSkipStart: t(5, 'Lightning suggestion(): skip_begin 10 of 100; 5 here because the EMA is shorter'),
  /** A fall of the smoothed loss below this fraction of its start counts as "the loss never fell": no rate is suggested. */
  rangeTestMinFall: t(0.05, 'scripts/lr-grid.mjs: the reference and eval nets that some rate trains fall ≥ 30 % in the sweep; below 5 % is batch noise (one batch of 32 varies the loss by ±10 %, smoothed over ~10)'),
  /** …and the sweep also stops when its smoothed loss, having fallen by at least this fraction, is back above where it started (a logits cross-entropy saturates near ln C and may never reach 4×). */
  rangeTestReturnFall: t(0.2, 'scripts/lr-grid.mjs: the reference and eval nets fall 30–99 % before the rate gets too high; a noisy 3-class toy net (test/lrRange.test.ts) wanders ±6 % at rates too small to train it'),
  /** The run's rate this many times the suggestion (or 1/this) is "far outside the good region". */
  rangeTestOffFactor: t(10, 'scripts/lr-grid.mjs: the suggestion is within 3× of the grid best, so 10× is well outside it; cases: lr-too-high-bn-adam-k2 sits 36× above, lr-far-too-low-* 1/4400 and below; healthy nets at Adam 1e-3 sit 4–160× below their suggestion (Adam 1e-3 is conservative for 100 steps), which is why the too-low verdict also needs a flat loss'),
} as const;

export type ThresholdName = keyof typeof THRESHOLDS;

/** The thresholds a user may set (`gradientLens.thresholds`): the ones whose right value depends on the model and the user's taste. */
export const TUNABLE_THRESHOLDS = ['vanishingRatio', 'explodingRatio', 'explodingAbsoluteRms', 'deadFraction', 'saturatedFraction'] as const;
export type TunableThreshold = (typeof TUNABLE_THRESHOLDS)[number];
export type ThresholdOverrides = Partial<Record<TunableThreshold, number>>;

/** Valid range of each tunable threshold: fractions in (0, 1], ratios and RMS above 0. */
export function isValidThreshold(name: TunableThreshold, value: unknown): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return false;
  return name === 'deadFraction' || name === 'saturatedFraction' ? value <= 1 : true;
}

/** The thresholds of one run: the table's values, with the user's overrides where set. */
export function thresholdsWith(overrides: ThresholdOverrides | undefined): (name: ThresholdName) => number {
  return (name) => (overrides as Partial<Record<ThresholdName, number>> | undefined)?.[name] ?? THRESHOLDS[name].value;
}
