import type { ChartDataset, ChartOptions } from 'chart.js';
import type { ChartPoint } from '../seriesStore';
import { ACCURACY_SERIES, LOSS_SERIES, type RunModel } from '../runModel';
import { formatNumber } from '../format';
import { withAlpha, type ThemeColors } from '../theme';
import { Chart, axisStyle, commonOptions, createCanvas, setAriaLabel, summarize, type PanelChart } from './setup';

type LossDataset = ChartDataset<'line', ChartPoint[]>;

/** Loss (left axis) and accuracy (right axis, 0–1) over steps; a previous run dashed. */
export class LossChart implements PanelChart {
  readonly id = 'loss' as const;
  readonly canvas: HTMLCanvasElement;
  private readonly chart: Chart<'line', ChartPoint[]>;
  private theme: ThemeColors;

  constructor(container: HTMLElement, theme: ThemeColors) {
    this.theme = theme;
    this.canvas = createCanvas(container, 'Loss: no data yet');
    this.chart = new Chart<'line', ChartPoint[]>(this.canvas, { type: 'line', data: { datasets: [] }, options: this.options() });
  }

  sync(model: RunModel): void {
    const current = model.current.lossAccuracy;
    const datasets: LossDataset[] = [
      this.dataset('loss', current.points(LOSS_SERIES), this.theme.blue, 'y', false),
      this.dataset('accuracy', current.points(ACCURACY_SERIES), this.theme.green, 'y1', false),
    ];
    const before = model.comparison;
    if (before) {
      datasets.push(
        this.dataset(`loss, ${before.label}`, before.lossAccuracy.points(LOSS_SERIES), this.theme.blue, 'y', true),
        this.dataset(`accuracy, ${before.label}`, before.lossAccuracy.points(ACCURACY_SERIES), this.theme.green, 'y1', true),
      );
    }
    // Files without accuracy (e.g. a regression loss) get no empty accuracy series or axis.
    this.chart.data.datasets = datasets.filter((d) => d.data.length > 0 || d.yAxisID === 'y');
    this.chart.options.scales!.y1!.display = this.chart.data.datasets.some((d) => d.yAxisID === 'y1');
    setAriaLabel(this.canvas, this.describe(model));
  }

  draw(): void {
    this.chart.update('none');
  }

  setTheme(theme: ThemeColors): void {
    this.theme = theme;
    this.chart.options = this.options();
    for (const dataset of this.chart.data.datasets) {
      const color = dataset.yAxisID === 'y1' ? theme.green : theme.blue;
      dataset.borderColor = dataset.borderDash ? withAlpha(color, 0.6) : color;
      dataset.backgroundColor = dataset.borderColor;
    }
    this.chart.update('none');
  }

  summary() {
    return summarize(this.chart.data.datasets, this.canvas);
  }

  toPng(): string {
    return this.chart.toBase64Image('image/png');
  }

  private dataset(label: string, data: ChartPoint[], color: string, axis: 'y' | 'y1', dashed: boolean): LossDataset {
    const stroke = dashed ? withAlpha(color, 0.6) : color;
    return {
      label,
      data,
      parsing: false,
      yAxisID: axis,
      borderColor: stroke,
      backgroundColor: stroke,
      borderWidth: 1.5,
      borderDash: dashed ? [5, 4] : undefined,
      pointRadius: 0,
      pointHitRadius: 4,
    };
  }

  private describe(model: RunModel): string {
    const points = model.current.lossAccuracy.points(LOSS_SERIES);
    if (points.length === 0) return 'Loss: no data yet';
    const latest = model.current.latest;
    let text = `Loss over ${model.stepCount} steps: ${formatNumber(points[0].y)} at first, ${formatNumber(latest?.loss)} at step ${latest?.step}`;
    if (latest?.accuracy !== undefined) text += `; accuracy ${formatNumber(latest.accuracy)}`;
    const before = model.comparison?.latest;
    if (before) text += `; ${model.comparison?.label} ended at loss ${formatNumber(before.loss)}`;
    return text;
  }

  private options(): ChartOptions<'line'> {
    const theme = this.theme;
    const base = commonOptions(theme);
    return {
      ...base,
      interaction: { mode: 'nearest' as const, intersect: false, axis: 'x' as const },
      scales: {
        x: { type: 'linear' as const, ...axisStyle(theme, 'step') },
        y: { type: 'linear' as const, position: 'left' as const, ...axisStyle(theme, 'loss') },
        y1: {
          type: 'linear' as const,
          position: 'right' as const,
          min: 0,
          max: 1,
          ...axisStyle(theme, 'accuracy'),
          grid: { drawOnChartArea: false, color: theme.gridLines },
        },
      },
      plugins: {
        ...base.plugins,
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
