import type { ChartOptions } from 'chart.js';
import type { LayerStepStats } from '../../src/shared/stats';
import type { RunModel } from '../runModel';
import { formatPercent } from '../format';
import { withAlpha, type ThemeColors } from '../theme';
import { Chart, axisStyle, commonOptions, createCanvas, setAriaLabel, summarize, type PanelChart } from './setup';

/**
 * Activation health at the latest step: per layer, the fraction of dead ReLU units and of
 * saturated sigmoid/tanh outputs. Only layers the engine recorded activations for appear.
 */
export class ActivationHealthChart implements PanelChart {
  readonly id = 'activationHealth' as const;
  readonly canvas: HTMLCanvasElement;
  private readonly chart: Chart<'bar', (number | null)[], string>;
  private theme: ThemeColors;

  constructor(container: HTMLElement, theme: ThemeColors) {
    this.theme = theme;
    this.canvas = createCanvas(container, 'Activation health: no data yet');
    this.chart = new Chart<'bar', (number | null)[], string>(this.canvas, { type: 'bar', data: { labels: [], datasets: [] }, options: this.options() });
  }

  sync(model: RunModel): void {
    const latest = model.current.latest;
    const recorded = (latest?.layers ?? []).filter((l) => l.deadFraction !== undefined || l.saturatedFraction !== undefined);
    const column = (pick: (l: LayerStepStats) => number | undefined) => recorded.map((l) => pick(l) ?? null);
    this.chart.data.labels = recorded.map((l) => l.layer);
    this.chart.data.datasets =
      recorded.length === 0
        ? []
        : [
            { label: 'dead units (ReLU)', data: column((l) => l.deadFraction), backgroundColor: withAlpha(this.theme.red, 0.8) },
            { label: 'saturated (sigmoid/tanh)', data: column((l) => l.saturatedFraction), backgroundColor: withAlpha(this.theme.orange, 0.8) },
          ];
    setAriaLabel(this.canvas, describe(recorded, latest?.step));
  }

  draw(): void {
    this.chart.update('none');
  }

  setTheme(theme: ThemeColors): void {
    this.theme = theme;
    this.chart.options = this.options();
    const [dead, saturated] = this.chart.data.datasets;
    if (dead) dead.backgroundColor = withAlpha(theme.red, 0.8);
    if (saturated) saturated.backgroundColor = withAlpha(theme.orange, 0.8);
    this.chart.update('none');
  }

  summary() {
    return summarize(this.chart.data.datasets, this.canvas);
  }

  toPng(): string {
    return this.chart.toBase64Image('image/png');
  }

  private options(): ChartOptions<'bar'> {
    const theme = this.theme;
    const base = commonOptions(theme);
    return {
      ...base,
      interaction: { mode: 'index' as const, intersect: false },
      scales: {
        x: { type: 'category' as const, ...axisStyle(theme, ''), ticks: { ...axisStyle(theme, '').ticks, autoSkip: true, maxRotation: 60 } },
        y: {
          type: 'linear' as const,
          min: 0,
          max: 1,
          ...axisStyle(theme, 'fraction'),
          ticks: { ...axisStyle(theme, '').ticks, callback: (value: string | number) => formatPercent(Number(value)) },
        },
      },
      plugins: {
        ...base.plugins,
        tooltip: {
          ...base.plugins?.tooltip,
          callbacks: {
            label: (item: { dataset: { label?: string }; parsed: { y: number | null } }) =>
              `${item.dataset.label}: ${item.parsed.y === null ? '–' : formatPercent(item.parsed.y)}`,
          },
        },
      },
    };
  }
}

function describe(recorded: LayerStepStats[], step: number | undefined): string {
  if (recorded.length === 0) return 'Activation health: no activation statistics recorded yet';
  const worst = (pick: (l: LayerStepStats) => number | undefined) =>
    recorded.reduce((best, l) => ((pick(l) ?? -1) > (pick(best) ?? -1) ? l : best), recorded[0]);
  const dead = worst((l) => l.deadFraction);
  const saturated = worst((l) => l.saturatedFraction);
  return (
    `Activation health at step ${step} for ${recorded.length} layers: most dead units ${formatPercent(dead.deadFraction ?? 0)} in ${dead.layer}; ` +
    `most saturated ${formatPercent(saturated.saturatedFraction ?? 0)} in ${saturated.layer}`
  );
}
