import type { ComparisonRun } from '../shared/viewProtocol';

/** What Analyze does given the run in progress, if any. */
export type AnalyzeDecision = { kind: 'start' } | { kind: 'ask-restart'; runningModelPath: string };

export function decideAnalyze(running: { modelPath: string } | undefined): AnalyzeDecision {
  return running ? { kind: 'ask-restart', runningModelPath: running.modelPath } : { kind: 'start' };
}

/** Why a run starts: the panel shows the previous run of the same file as before/after only when the user changed something on purpose. */
export type RunTrigger = { kind: 'fresh' } | { kind: 'rerun' } | { kind: 'after-fix'; fixTitle: string };

/** The previous run of the same file to draw dashed, or null. */
export function chooseComparison(previous: ComparisonRun | undefined, trigger: RunTrigger): ComparisonRun | null {
  if (!previous || previous.series.step.length === 0) return null;
  switch (trigger.kind) {
    case 'fresh':
      return null;
    case 'rerun':
      return { ...previous, label: 'previous run' };
    case 'after-fix':
      // Legends are narrow: the fix's full title would be cut off there.
      return { ...previous, label: 'before fix' };
  }
}
