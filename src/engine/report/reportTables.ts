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

