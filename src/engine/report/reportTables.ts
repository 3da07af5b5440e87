import { describeWeights } from '../../shared/model';
import type { Report } from '../../shared/report';
import { formatDuration, formatNumber, formatPercent } from './numbers';

/** A table as plain cells: the text and Markdown renderers draw the same content. */
export interface Table {
  header: string[];
  /** Columns holding numbers, right-aligned in text. */
  numeric: boolean[];
  rows: string[][];
}

export function runFacts(report: Report): Array<[string, string]> {
  const { run, model } = report;
  const steps = run.stepsCompleted !== undefined && run.stepsCompleted !== run.steps ? `${run.stepsCompleted} of ${run.steps}` : `${run.steps}`;
  const facts: Array<[string, string]> = [
    ['model', `${model.path} (${model.format})`],
    ...(model.weights ? [['weights', describeWeights(model.weights, true)] as [string, string]] : []),
    ['backend', run.backend],
    ['steps', `${steps}${run.cancelled ? ' (cancelled)' : ''}, batch size ${run.batchSize}`],
    ['optimizer', `${run.optimizer}, learning rate ${formatNumber(run.learningRate)}${run.loss ? `, loss ${run.loss}` : ''}`],
    ['data', `${run.data ?? 'default'}, seed ${run.seed}`],
    ['duration', `${formatDuration(run.durationMs)}, median step ${formatDuration(run.stepMsMedian)}`],
  ];
  return facts;
}

export function layerTable(report: Report): Table {
  return {
    header: ['layer', 'class', 'grad RMS first', 'grad RMS last', 'ratio to last layer', 'dead', 'saturated'],
    numeric: [false, false, true, true, true, true, true],
    rows: (report.layerSummary ?? []).map((row) => [
      row.name,
      row.className,
      formatNumber(row.gradRmsFirst),
      formatNumber(row.gradRmsLast),
      formatNumber(row.ratioToLast),
      formatPercent(row.deadFraction),
      formatPercent(row.saturatedFraction),
    ]),
  };
}

/** "loss 2.303 → 0.412" and, when recorded, accuracy the same way; undefined for an empty run. */
export function progressLine(report: Report): string | undefined {
  const { loss, accuracy } = report.history;
  if (loss.length === 0) return undefined;
  let line = `loss ${formatNumber(loss[0], 4)} → ${formatNumber(loss[loss.length - 1], 4)} over ${loss.length} steps`;
  if (accuracy && accuracy.length > 0) line += `, accuracy ${formatPercent(accuracy[0])} → ${formatPercent(accuracy[accuracy.length - 1])}`;
  return line;
}

export function verificationTable(report: Report): Table {
  const pair = (before: number, after: number, format: (n: number) => string) => `${format(before)} → ${format(after)}`;
  return {
    header: ['finding', 'fix', 'layer', 'final loss', 'first/last ratio', 'dead', 'still present'],
    numeric: [false, false, false, false, false, false, false],
    rows: (report.verifications ?? []).map((v) => [
      v.findingCode,
      v.fixCode,
      v.layer ?? '–',
      v.error ? `failed: ${v.error}` : pair(v.before.finalLoss, v.after.finalLoss, (n) => formatNumber(n, 4)),
      v.error ? '–' : pair(v.before.firstLastRatio, v.after.firstLastRatio, formatNumber),
      v.error ? '–' : pair(v.before.deadFraction, v.after.deadFraction, formatPercent),
      v.remaining.length > 0 ? v.remaining.join(', ') : 'none',
    ]),
  };
}

/**
 * The range test in a few lines: what was swept, where the loss fell fastest and bottomed out,
 * the suggestion against the run's rate, and a coarse curve (the smoothed loss at each decade).
 */
export function lrRangeLines(report: Report): string[] {
  const range = report.lrRange;
  if (!range) return [];
  const { sweep } = range;
  const lines = [
    `swept ${formatNumber(sweep.startLr)} → ${formatNumber(range.points[range.points.length - 1]?.lr ?? sweep.endLr)} over ${range.points.length} of ${sweep.steps} steps (${range.optimizer}${range.stoppedEarly ? ', stopped: the loss diverged' : ''}), ${formatDuration(range.durationMs)}`,
  ];
  if (range.suggestedLr !== undefined) {
    const ratio = range.currentLr / range.suggestedLr;
    const relation = ratio >= 1 ? `${formatNumber(ratio, 2)}× the suggestion` : `1/${formatNumber(1 / ratio, 2)} of the suggestion`;
    lines.push(`suggested learning rate ${formatNumber(range.suggestedLr, 2)} (steepest fall at ${formatNumber(range.steepestLr, 2)}, lowest loss ${formatNumber(range.minLoss)} at ${formatNumber(range.minLossLr, 2)}); the run's ${formatNumber(range.currentLr)} is ${relation}`);
    if (range.goodRange) lines.push(`good region ${formatNumber(range.goodRange.low, 2)} – ${formatNumber(range.goodRange.high, 2)}`);
  } else {
    lines.push(`no rate suggested: ${range.note ?? 'the loss never fell'}`);
  }
  const decades: string[] = [];
  for (let exponent = Math.ceil(Math.log10(sweep.startLr)); exponent <= Math.floor(Math.log10(sweep.endLr)); exponent++) {
    const target = Math.pow(10, exponent);
    const point = range.points.reduce<(typeof range.points)[number] | undefined>((best, p) => (!best || Math.abs(Math.log(p.lr / target)) < Math.abs(Math.log(best.lr / target)) ? p : best), undefined);
    if (point && Math.abs(Math.log10(point.lr / target)) < 0.1) decades.push(`${formatNumber(target)}: ${formatNumber(point.smoothed)}`);
  }
  if (decades.length > 0) lines.push(`smoothed loss by rate: ${decades.join(', ')}`);
  return lines;
}

/** `--compare-fixes`: the candidates, best first, with what each run ended at. */
export function comparisonTable(report: Report): Table {
  const comparison = report.comparison;
  const rows: string[][] = [];
  if (comparison) {
    const b = comparison.baseline;
    rows.push(['–', 'as it is', formatNumber(b.finalLoss, 3), formatPercent(b.accuracy), formatNumber(b.firstLastRatio), formatPercent(b.deadFraction), '']);
    for (const c of comparison.candidates) {
      const o = c.outcome;
      rows.push([
        c.rank > 0 ? String(c.rank) : '–',
        c.title,
        o ? formatNumber(o.finalLoss, 3) : `failed: ${c.error ?? 'no result'}`,
        o ? formatPercent(o.accuracy) : '–',
        o ? formatNumber(o.firstLastRatio) : '–',
        o ? formatPercent(o.deadFraction) : '–',
        o ? (c.remaining.length > 0 ? c.remaining.join(', ') : 'none') : '–',
      ]);
    }
  }
  return {
    header: ['rank', 'fix', 'final loss', 'accuracy', 'first/last ratio', 'dead', 'still reported'],
    numeric: [true, false, true, true, true, true, false],
    rows,
  };
}

/** "use-relu — loss 2.30 → 0.61 in 100 steps": a candidate's result in the words quick-fix titles use. */
export function comparisonHeadline(report: Report): string | undefined {
  const c = report.comparison;
  if (!c) return undefined;
  const ok = c.candidates.filter((x) => x.outcome).length;
  return `${ok} of ${c.candidates.length} fixes for ${c.findingCode}${c.layer ? ` (${c.layer})` : ''} rerun, ${c.parallel} at once, in ${formatDuration(c.durationMs)}; final loss = mean of the last steps, same seed and steps`;
}
