import type { ChartDataset, ChartOptions } from 'chart.js';
import type { ChartPoint } from '../seriesStore';
import type { RunModel } from '../runModel';
import { formatNumber } from '../format';
import { layerPalette, withAlpha, type ThemeColors } from '../theme';
import { Chart, axisStyle, commonOptions, createCanvas, powerOfTenLabel, setAriaLabel, summarize, type PanelChart } from './setup';

type RmsDataset = ChartDataset<'line', ChartPoint[]>;

/**
 * Per-layer gradient RMS over steps on a log axis, one line per instrumented layer, coloured by
 * depth. With many layers the lines are thin; hovering a line (or its legend entry) draws it
 * bold and fades the rest.
 */
export class GradientRmsChart implements PanelChart {
  readonly id = 'gradientRms' as const;
  readonly canvas: HTMLCanvasElement;
  private readonly chart: Chart<'line', ChartPoint[]>;
  private theme: ThemeColors;
  private colors: string[] = [];
  private layoutVersion = -1;
  private highlighted: number | null = null;

  constructor(
    container: HTMLElement,
    theme: ThemeColors,
    private readonly onHoverLayer: (index: number | null) => void,
  ) {
    this.theme = theme;
    this.canvas = createCanvas(container, 'Gradient RMS per layer: no data yet');
    this.chart = new Chart<'line', ChartPoint[]>(this.canvas, { type: 'line', data: { datasets: [] }, options: this.options() });
  }

  sync(model: RunModel): void {
    const store = model.gradientRms;
    if (this.layoutVersion !== model.layoutVersion) {
      this.layoutVersion = model.layoutVersion;
      this.highlighted = null;
      this.colors = layerPalette(this.theme, model.instrumented.length);
      this.chart.data.datasets = model.instrumented.map((layer, i): RmsDataset => ({
        label: layer.name,
        data: [],
        parsing: false,
        borderColor: this.colors[i],
        borderWidth: 1.25,
        pointRadius: 0,
        pointHoverRadius: 3,
        pointHitRadius: 4,
        spanGaps: true,
      }));
    }
    const datasets = this.chart.data.datasets;
    for (let i = 0; i < datasets.length; i++) datasets[i].data = store.points(i);
    setAriaLabel(this.canvas, this.describe(model));
  }

  /** Draws layer `index` bold and the others faded; null restores all. */
  highlight(index: number | null): void {
    if (index === this.highlighted) return;
    this.highlighted = index;
    this.applyColors();
    this.chart.update('none');
  }

  setLayerVisible(index: number, visible: boolean): void {
    if (index < this.chart.data.datasets.length) this.chart.setDatasetVisibility(index, visible);
    this.chart.update('none');
  }

  layerColor(index: number): string {
    return this.colors[index] ?? this.theme.foreground;
  }

  draw(): void {
    this.chart.update('none');
  }

  setTheme(theme: ThemeColors): void {
    this.theme = theme;
    this.colors = layerPalette(theme, this.chart.data.datasets.length);
    this.chart.options = this.options();
    this.applyColors();
    this.chart.update('none');
  }

  summary() {
    return summarize(this.chart.data.datasets, this.canvas);
  }

  toPng(): string {
    return this.chart.toBase64Image('image/png');
  }

  private applyColors(): void {
    this.chart.data.datasets.forEach((dataset, i) => {
      const faded = this.highlighted !== null && this.highlighted !== i;
      dataset.borderColor = faded ? withAlpha(this.colors[i], 0.15) : this.colors[i];
      dataset.borderWidth = this.highlighted === i ? 2.5 : 1.25;
      dataset.order = this.highlighted === i ? -1 : 0;
    });
  }

  private describe(model: RunModel): string {
    const layers = model.instrumented.length;
    const steps = model.stepCount;
    if (layers === 0 || steps === 0) return 'Gradient RMS per layer: no data yet';
    const latest = model.current.latest;
    const first = latest?.layers.find((l) => l.layer === model.instrumented[0].name);
    const last = latest?.layers.find((l) => l.layer === model.instrumented[layers - 1].name);
    const ratio = first && last && last.gradRms > 0 ? first.gradRms / last.gradRms : NaN;
    return `Gradient RMS for ${layers} layers over ${steps} steps; first/last layer ratio ${formatNumber(ratio)} at step ${latest?.step}`;
  }

  private options(): ChartOptions<'line'> {
    const theme = this.theme;
    const base = commonOptions(theme);
    return {
      ...base,
      interaction: { mode: 'nearest' as const, intersect: false, axis: 'xy' as const },
      onHover: (_event: unknown, elements: Array<{ datasetIndex: number }>) => {
        this.onHoverLayer(elements.length > 0 ? elements[0].datasetIndex : null);
      },
      scales: {
        x: { type: 'linear' as const, ...axisStyle(theme, 'step') },
        y: {
          type: 'logarithmic' as const,
          ...axisStyle(theme, 'gradient RMS'),
          ticks: { ...axisStyle(theme, '').ticks, callback: powerOfTenLabel, autoSkip: true },
        },
      },
      plugins: {
        ...base.plugins,
        legend: { display: false },
        tooltip: {
          ...base.plugins?.tooltip,
          callbacks: {
            title: (items: Array<{ parsed: { x: number | null } }>) => `step ${items[0]?.parsed.x ?? ''}`,
            label: (item: { dataset: { label?: string }; parsed: { y: number | null } }) =>
              `${item.dataset.label}: ${formatNumber(item.parsed.y ?? NaN)}`,
          },
        },
      },
    };
  }
}
