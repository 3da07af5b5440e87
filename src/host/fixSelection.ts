import type { Severity } from '../shared/codes';
import type { Finding, Fix } from '../shared/findings';
import type { Range } from '../shared/textRange';
import { rangesIntersect } from './diagnosticModel';

/** A finding of the last run, with the range its diagnostic was drawn on. */
export interface PlacedFinding {
  finding: Finding;
  range: Range;
}

/** One quick fix to offer: the fixes of several findings that would make the same edit become one. */
export interface FixChoice {
  fix: Fix;
  /** The finding the fix answers (the most severe one when several share it). */
  finding: Finding;
  isPreferred: boolean;
}

const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

function fixIdentity(fix: Fix): string {
  return JSON.stringify([fix.code, fix.edits, fix.setting ?? null]);
}

/**
 * The quick fixes for a selection: every fix of every finding whose range touches it, most
 * severe finding first and each finding's fixes in the planner's order (best first). Exactly
 * one is preferred — the best fix of the most severe finding — so "Auto Fix" has one answer.
 */
export function chooseFixes(placed: readonly PlacedFinding[], selection: Range): FixChoice[] {
  const touching = placed
    .filter((p) => rangesIntersect(p.range, selection))
    .sort((a, b) => SEVERITY_RANK[a.finding.severity] - SEVERITY_RANK[b.finding.severity]);
  const seen = new Set<string>();
  const choices: FixChoice[] = [];
  for (const { finding } of touching) {
    for (const fix of finding.fixes) {
      const identity = fixIdentity(fix);
      if (seen.has(identity)) continue;
      seen.add(identity);
      choices.push({ fix, finding, isPreferred: choices.length === 0 });
    }
  }
  return choices;
}

/**
 * Edits were planned against the text the analysis read; a document edited since then would
 * get them at the wrong offsets.
 */
export function canApplyEdits(analyzedVersion: number, currentVersion: number): boolean {
  return analyzedVersion === currentVersion;
}
