import type { FindingCode } from '../codes';
import type { Diagnoser, DiagnosisContext, FinalMeasurements } from '../diagnosis';
import type { Finding } from '../findings';
import type { StepStats } from '../stats';
import { dyingReluRule, poorInitializationRule, saturationRule } from './activationRules';
import { explodingRule, nonFiniteRule, vanishingRule } from './gradientRules';
import { History } from './history';
import type { Rule } from './rule';
import { architectureExplains, learningRateSuspected, learningRateTooHighRule, learningRateTooLowRule, oscillatingLossRule, slowConvergenceRule } from './trainingRules';

export { THRESHOLDS } from './thresholds';


/**
 * Root causes before their consequences: a rule's `explainedBy` can only name rules earlier in
 * this list, so one pass decides each finding after everything that could explain it.
 */
const RULES: Rule[] = [
  nonFiniteRule,
  explodingRule,
  vanishingRule,
  dyingReluRule,
  saturationRule,
  poorInitializationRule,
  learningRateTooHighRule,
  learningRateTooLowRule,
  oscillatingLossRule,
  slowConvergenceRule,
];

/** Rules over the statistics history; see `Diagnoser` in src/shared/diagnosis.ts. */
export function createDiagnoser(ctx: DiagnosisContext): Diagnoser {
  const history = new History(ctx);
  const found = new Map<FindingCode, Finding>();
  history.found = found;

  const explained = (rule: Rule) => rule.explainedBy.some((code) => {
    const cause = found.get(code);
    return cause !== undefined && cause.severity !== 'info';
  });

  const run = (final: boolean): Finding[] => {
    const fresh: Finding[] = [];
    for (const rule of RULES) {
      if (found.has(rule.code) || (!final && !rule.live) || explained(rule)) continue;
      const finding = rule.evaluate(history, final);
      if (!finding) continue;
      found.set(rule.code, finding);
      fresh.push(finding);
    }
    return fresh;
  };

  return {
    observe(step: StepStats): Finding[] {
      history.add(step);
      return run(false);
    },
    finish(measured?: FinalMeasurements): Finding[] {
      history.lrRange = measured?.lrRange;
      return run(true);
    },
  };
}


/**
 * True when these steps leave the learning rate suspected (see `learningRateSuspected`), so the
 * engine runs the range test — unless an architecture cause (vanishing gradient, dead units,
 * saturation, poor initialisation) already explains the run at warning or above without any
 * sign of a too-large first update (DeepDiagnosis' 0.1), where a rate fix would not be offered —
 * and never for a run shorter than `minStepsToJudgeProgress`, whose loss says nothing yet.
 */
export function suspectsLearningRate(ctx: DiagnosisContext, steps: StepStats[]): boolean {
  const history = new History(ctx);
  // A run too short to judge its loss is too short to pay for a range test of 100 steps on its own
  // account: the fuzzer's one-step run of a 65,536-class head spent 181 s in one.
  if (steps.length < history.threshold('minStepsToJudgeProgress')) return false;
  const preliminary = createDiagnoser(ctx);
  const findings: Finding[] = [];
  for (const step of steps) {
    history.add(step);
    findings.push(...preliminary.observe(step));
  }
  findings.push(...preliminary.finish());
  return !architectureExplains(findings, history) && learningRateSuspected(history);
}
