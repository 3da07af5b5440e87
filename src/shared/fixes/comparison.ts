import type { Finding, FixComparison } from '../findings';

/** "2.30", "0.61", "1.4e-3": a loss as a quick-fix title quotes it. */
function lossText(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss);
  return Math.abs(loss) >= 0.01 ? loss.toFixed(2) : loss.toExponential(1);
}

/**
 * After `--compare-fixes`: the compared finding's fixes in the measured order (best first,
 * failed candidates last, in their planned order), each title carrying its result — "Use ReLU …
 * — loss 2.30 → 0.61 in 100 steps" — so the report, the diagnostics' quick fixes and the
 * preferred fix ("Auto Fix") all follow the measurement. Other findings are unchanged.
 */
export function rankFixesByComparison(findings: Finding[], comparison: FixComparison): Finding[] {
  const index = findings.findIndex((f) => f.code === comparison.findingCode && f.layer === comparison.layer);
  if (index < 0) return findings;
  const finding = findings[index];
  const rankOf = (code: string) => comparison.candidates.find((c) => c.fixCode === code);
  const ordered = finding.fixes
    .map((fix, planned) => ({ fix, planned, result: rankOf(fix.code) }))
    .sort((a, b) => {
      const ra = a.result?.rank || Infinity;
      const rb = b.result?.rank || Infinity;
      return ra !== rb ? ra - rb : a.planned - b.planned;
    })
    .map(({ fix, result }) => {
      const outcome = result?.outcome;
      if (!outcome) return fix;
      const title = `${fix.title} — loss ${lossText(comparison.baseline.finalLoss)} → ${lossText(outcome.finalLoss)} in ${outcome.steps} steps`;
      return { ...fix, title };
    });
  const ranked = [...findings];
  ranked[index] = { ...finding, fixes: ordered };
  return ranked;
}
