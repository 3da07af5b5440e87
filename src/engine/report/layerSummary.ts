import type { LayerInfo } from '../../shared/model';
import type { LayerSummary } from '../../shared/report';
import type { StepStats } from '../../shared/stats';

/**
 * One row per instrumented layer, in the order the steps report them (the model's order):
 * gradient RMS at the first and the last step, the last step's RMS relative to the last
 * instrumented layer's, and the last step's activation health where it was recorded.
 */
export function layerSummaryFrom(history: StepStats[], layers: LayerInfo[]): LayerSummary[] {
  if (history.length === 0) return [];
  const first = history[0];
  const last = history[history.length - 1];
  const outputRms = last.layers.at(-1)?.gradRms ?? NaN;
  const classOf = new Map(layers.map((layer) => [layer.name, layer.className]));
  return last.layers.map((stats) => {
    const row: LayerSummary = {
      name: stats.layer,
      className: classOf.get(stats.layer) ?? '',
      gradRmsFirst: first.layers.find((s) => s.layer === stats.layer)?.gradRms ?? NaN,
      gradRmsLast: stats.gradRms,
      ratioToLast: stats.gradRms / outputRms,
    };
    if (stats.deadFraction !== undefined) row.deadFraction = stats.deadFraction;
    if (stats.saturatedFraction !== undefined) row.saturatedFraction = stats.saturatedFraction;
    return row;
  });
}
