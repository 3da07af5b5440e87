import type { ChartDataset, ChartOptions } from 'chart.js';
import type { StepStats } from '../../src/shared/stats';
import { DEFAULT_VIEW_SETTINGS, type FlowThresholds } from '../../src/shared/viewProtocol';
import type { RunModel } from '../runModel';
import { formatNumber } from '../format';
import { classifyFlow, type FlowHealth } from '../health';
import { withAlpha, type ThemeColors } from '../theme';
import { Chart, axisStyle, commonOptions, createCanvas, powerOfTenLabel, setAriaLabel, summarize, type PanelChart } from './setup';

type FlowDataset = ChartDataset<'bar' | 'line', (number | null)[]>;

/**
 * The "gradient flow": each layer's gradient RMS at the latest step, in model order, on a log
 * axis, coloured by health. A previous run of the same file, when there is one, is the dashed
 * line over the bars. Bars a log axis cannot show (0, NaN, ±Inf) are pinned to the bottom or
 * top of the axis; their tooltip gives the true value.
 */
export class GradientFlowChart implements PanelChart {
  readonly id = 'gradientFlow' as const;
  readonly canvas: HTMLCanvasElement;
  private readonly chart: Chart<'bar' | 'line', (number | null)[], string>;
  private theme: ThemeColors;
  private trueValues: number[] = [];
  private health: FlowHealth[] = [];
  private comparisonValues: (number | null)[] = [];
  private legendElement: HTMLElement | null = null;
  private thresholds: FlowThresholds = DEFAULT_VIEW_SETTINGS.flowThresholds;

  constructor(container: HTMLElement, theme: ThemeColors) {
    this.theme = theme;
    this.canvas = createCanvas(container, 'Gradient flow: no data yet');
    this.chart = new Chart<'bar' | 'line', (number | null)[], string>(this.canvas, { type: 'bar', data: { labels: [], datasets: [] }, options: this.options() });
    container.append(this.legend());
  }

  sync(model: RunModel): void {
    const names = model.instrumented.map((l) => l.name);
    const latest = model.current.latest;
    const byName = indexStats(latest);
    this.trueValues = names.map((n) => byName.get(n)?.gradRms ?? NaN);
    const nonFinite = names.map((n) => (byName.get(n)?.gradNonFinite ?? 0) > 0);
    this.health = latest ? classifyFlow(this.trueValues, nonFinite, model.settings.flowThresholds) : [];
    if (model.settings.flowThresholds !== this.thresholds) {
      this.thresholds = model.settings.flowThresholds;
      this.legendElement?.replaceWith(this.legend());
    }
    const comparison = model.comparison ? indexStats(model.comparison.latest) : null;
    this.comparisonValues = comparison ? names.map((n) => comparison.get(n)?.gradRms ?? null) : [];

    const drawable = [...this.trueValues, ...this.comparisonValues].filter(
      (v): v is number => v !== null && Number.isFinite(v) && v > 0,
    );
    const floor = drawable.length ? Math.min(...drawable) / 10 : 1e-12;
    const ceiling = drawable.length ? Math.max(...drawable) * 10 : 1;
    const pin = (v: number) => (Number.isFinite(v) ? (v > 0 ? v : floor) : ceiling);

    const datasets: FlowDataset[] = [
      {
        type: 'bar',
        label: 'this run',
        data: latest ? this.trueValues.map(pin) : [],
        backgroundColor: this.health.map((h) => this.healthColor(h)),
        borderWidth: 0,
        barPercentage: 0.9,
        categoryPercentage: 0.9,
        order: 1,
      },
    ];
    if (model.comparison) {
      datasets.push({
        type: 'line',
        label: model.comparison.label,
        data: this.comparisonValues.map((v) => (v === null ? null : pin(v))),
        borderColor: this.theme.foreground,
        backgroundColor: this.theme.foreground,
        borderDash: [4, 3],
        borderWidth: 1.5,
        pointRadius: 2,
        pointStyle: 'rectRot',
        order: 0,
      });
    }
    this.chart.data.labels = names;
    this.chart.data.datasets = datasets;
    // The built-in legend only tells this run from the previous one; the colour key does the rest.
    this.chart.options.plugins!.legend!.display = datasets.length > 1;
    setAriaLabel(this.canvas, this.describe(latest, names.length));
  }

  draw(): void {
    this.chart.update('none');
  }

  setTheme(theme: ThemeColors): void {
    this.theme = theme;
    this.chart.options = this.options();
    const bars = this.chart.data.datasets[0];
    if (bars) bars.backgroundColor = this.health.map((h) => this.healthColor(h));
    const before = this.chart.data.datasets[1];
    if (before) before.borderColor = before.backgroundColor = theme.foreground;
    this.legendElement?.replaceWith(this.legend());
    this.chart.update('none');
  }

  summary() {
    return summarize(this.chart.data.datasets, this.canvas);
  }

  toPng(): string {
    return this.chart.toBase64Image('image/png');
  }

  /** Colour key under the chart (Chart.js legends key datasets, not bar colours). */
  private legend(): HTMLElement {
    const key = document.createElement('div');
    key.className = 'chart-key';
    const entries: Array<[string, string]> = [
      [this.healthColor('healthy'), 'healthy'],
      [this.healthColor('vanishing'), `vanishing (< ${formatNumber(this.thresholds.vanishingRatio)} of last layer)`],
      [this.healthColor('exploding'), `exploding (> ${formatNumber(this.thresholds.explodingRatio)}× last layer)`],
      [this.healthColor('non-finite'), 'NaN / Inf'],
    ];
    for (const [color, text] of entries) {
      const item = document.createElement('span');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.backgroundColor = color;
      item.append(swatch, text);
      key.append(item);
    }
    this.legendElement = key;
    return key;
  }

  private healthColor(health: FlowHealth): string {
    switch (health) {
      case 'healthy':
        return withAlpha(this.theme.green, 0.85);
      case 'vanishing':
        return withAlpha(this.theme.yellow, 0.85);
      case 'exploding':
        return withAlpha(this.theme.orange, 0.9);
      case 'non-finite':
        return this.theme.red;
    }
  }

  private describe(latest: StepStats | null, layers: number): string {
    if (!latest || layers === 0) return 'Gradient flow: no data yet';
    const count = (h: FlowHealth) => this.health.filter((x) => x === h).length;
    return (
      `Gradient flow at step ${latest.step}: ${count('vanishing')} vanishing, ${count('exploding')} exploding, ` +
      `${count('non-finite')} non-finite, ${count('healthy')} healthy of ${layers} layers`
    );
  }

  private options(): ChartOptions<'bar' | 'line'> {
    const theme = this.theme;
    const base = commonOptions(theme);
    return {
      ...base,
      interaction: { mode: 'index' as const, intersect: false },
      scales: {
        x: { type: 'category' as const, ...axisStyle(theme, ''), ticks: { ...axisStyle(theme, '').ticks, autoSkip: true, maxRotation: 60 } },
        y: {
          type: 'logarithmic' as const,
          ...axisStyle(theme, 'gradient RMS'),
          ticks: { ...axisStyle(theme, '').ticks, callback: powerOfTenLabel, autoSkip: true },
        },
      },
      plugins: {
        ...base.plugins,
        legend: { ...base.plugins?.legend, display: this.chart?.data.datasets.length > 1 },
        tooltip: {
          ...base.plugins?.tooltip,
          callbacks: {
            label: (item: { datasetIndex: number; dataIndex: number; dataset: { label?: string } }) => {
              if (item.datasetIndex === 0) {
                const health = this.health[item.dataIndex];
                return `${item.dataset.label}: ${formatNumber(this.trueValues[item.dataIndex])} (${health})`;
              }
              return `${item.dataset.label}: ${formatNumber(this.comparisonValues[item.dataIndex] ?? undefined)}`;
            },
          },
        },
      },
    };
  }
}

function indexStats(step: StepStats | null) {
  return new Map((step?.layers ?? []).map((l) => [l.layer, l]));
}
