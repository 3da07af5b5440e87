import type { ChartOptions, Plugin } from 'chart.js';
import type { ChartDataSummary } from '../../src/shared/viewProtocol';
import type { ChartPoint } from '../seriesStore';
import type { RunModel } from '../runModel';
import { formatNumber } from '../format';
import { layerPalette, withAlpha, type ThemeColors } from '../theme';
import { Chart, axisStyle, commonOptions, createCanvas, powerOfTenLabel, setAriaLabel, type PanelChart } from './setup';

const HOVER_DISTANCE_PX = 8;

/**
 * Per-layer gradient RMS over steps on a log axis, one line per instrumented layer, coloured by
 * depth. Chart.js draws the axes; the lines are stroked by this chart's own plugin, because
 * Chart.js re-resolves every dataset's options on each update, which with a hundred layers
 * cost more than drawing them. Hovering a line (or its legend entry) draws it bold, fades the
 * rest and labels it; that needs only a repaint, not an update.
 */
export class GradientRmsChart implements PanelChart {
  readonly id = 'gradientRms' as const;
  readonly canvas: HTMLCanvasElement;
  private readonly chart: Chart<'line', ChartPoint[]>;
  private theme: ThemeColors;
  private names: string[] = [];
  private colors: string[] = [];
  private series: ChartPoint[][] = [];
  private hidden = new Set<number>();
  private layoutVersion = -1;
  private highlighted: number | null = null;
  private hoverPoint: ChartPoint | null = null;

  constructor(
    container: HTMLElement,
    theme: ThemeColors,
    /** Told which layer the pointer is over, for the legend. */
    private readonly onHoverLayer: (index: number | null) => void,
  ) {
    this.theme = theme;
    this.canvas = createCanvas(container, 'Gradient RMS per layer: no data yet');
    this.chart = new Chart<'line', ChartPoint[]>(this.canvas, {
      type: 'line',
      data: { datasets: [] },
      options: this.options(),
      plugins: [this.linesPlugin()],
    });
    this.canvas.addEventListener('mousemove', (event) => this.onPointer(event.offsetX, event.offsetY));
    this.canvas.addEventListener('mouseleave', () => this.hover(null, null));
  }

  sync(model: RunModel): void {
    if (this.layoutVersion !== model.layoutVersion) {
      this.layoutVersion = model.layoutVersion;
      this.names = model.instrumented.map((l) => l.name);
      this.colors = layerPalette(this.theme, this.names.length);
      this.hidden.clear();
      this.highlighted = null;
    }
    this.series = this.names.map((_, i) => model.gradientRms.points(i));
    this.fitAxes(model.gradientRms.lastStep);
    setAriaLabel(this.canvas, this.describe(model));
  }

  draw(): void {
    this.chart.update('none');
  }

  /** Draws layer `index` bold and the others faded; null restores all. */
  highlight(index: number | null, at: ChartPoint | null = null): void {
    if (index === this.highlighted && at === this.hoverPoint) return;
    this.highlighted = index;
    this.hoverPoint = at;
    this.chart.draw();
  }

  setLayerVisible(index: number, visible: boolean): void {
    if (visible) this.hidden.delete(index);
    else this.hidden.add(index);
    this.chart.draw();
  }

  layerColor(index: number): string {
    return this.colors[index] ?? this.theme.foreground;
  }

  setTheme(theme: ThemeColors): void {
    this.theme = theme;
    this.colors = layerPalette(theme, this.names.length);
    this.chart.options = this.options();
    this.chart.update('none');
  }

  summary(): ChartDataSummary {
    return {
      seriesCount: this.series.length,
      pointsPerSeries: this.series.map((s) => s.length),
      ariaLabel: this.canvas.getAttribute('aria-label') ?? '',
      firstSeriesColor: this.colors[0] ?? '',
    };
  }

  toPng(): string {
    return this.chart.toBase64Image('image/png');
  }

  /** Fixed axis ranges from the data (no datasets for Chart.js to scan), log range snapped to decades. */
  private fitAxes(lastStep: number): void {
    let low = Infinity;
    let high = -Infinity;
    for (const points of this.series) {
      for (const p of points) {
        if (p.y < low) low = p.y;
        if (p.y > high) high = p.y;
      }
    }
    const scales = this.chart.options.scales!;
    scales.x!.min = 0;
    scales.x!.max = Math.max(1, lastStep);
    scales.y!.min = Number.isFinite(low) ? 10 ** Math.floor(Math.log10(low)) : 1e-8;
    scales.y!.max = Number.isFinite(high) ? 10 ** Math.max(Math.ceil(Math.log10(high)), Math.floor(Math.log10(low)) + 1) : 1;
  }

  private onPointer(px: number, py: number): void {
    const { x, y } = this.chart.scales;
    const area = this.chart.chartArea;
    if (!x || !y || px < area.left || px > area.right || py < area.top || py > area.bottom) {
      this.hover(null, null);
      return;
    }
    const step = x.getValueForPixel(px) ?? 0;
    let best: { index: number; point: ChartPoint; distance: number } | null = null;
    this.series.forEach((points, index) => {
      if (this.hidden.has(index) || points.length === 0) return;
      const point = nearestByX(points, step);
      const distance = Math.abs(y.getPixelForValue(point.y) - py);
      if (distance <= HOVER_DISTANCE_PX && (!best || distance < best.distance)) best = { index, point, distance };
    });
    const found = best as { index: number; point: ChartPoint } | null;
    this.hover(found?.index ?? null, found?.point ?? null);
  }

  private hover(index: number | null, point: ChartPoint | null): void {
    if (index !== this.highlighted) this.onHoverLayer(index);
    this.highlight(index, point);
  }

  private linesPlugin(): Plugin<'line'> {
    return {
      id: 'gradientRmsLines',
      beforeDatasetsDraw: (chart) => {
        const { ctx, chartArea: area } = chart;
        const x = chart.scales.x;
        const y = chart.scales.y;
        if (!x || !y) return;
        ctx.save();
        ctx.beginPath();
        ctx.rect(area.left, area.top, area.right - area.left, area.bottom - area.top);
        ctx.clip();
        ctx.lineJoin = 'round';
        const order = this.series.map((_, i) => i).filter((i) => !this.hidden.has(i) && i !== this.highlighted);
        if (this.highlighted !== null && !this.hidden.has(this.highlighted)) order.push(this.highlighted);
        for (const i of order) {
          const points = this.series[i];
          if (points.length === 0) continue;
          const faded = this.highlighted !== null && this.highlighted !== i;
          ctx.strokeStyle = faded ? withAlpha(this.colors[i], 0.15) : this.colors[i];
          ctx.lineWidth = this.highlighted === i ? 2.5 : 1.25;
          ctx.beginPath();
          ctx.moveTo(x.getPixelForValue(points[0].x), y.getPixelForValue(points[0].y));
          for (let k = 1; k < points.length; k++) ctx.lineTo(x.getPixelForValue(points[k].x), y.getPixelForValue(points[k].y));
          ctx.stroke();
        }
        ctx.restore();
        this.drawHoverLabel(chart);
      },
    };
  }

  /** The hovered layer's name and value next to the pointer (there is no dataset for Chart.js' tooltip). */
  private drawHoverLabel(chart: Chart<'line'>): void {
    const point = this.hoverPoint;
    const index = this.highlighted;
    if (!point || index === null) return;
    const { ctx, chartArea: area } = chart;
    const px = chart.scales.x.getPixelForValue(point.x);
    const py = chart.scales.y.getPixelForValue(point.y);
    const text = `${this.names[index]}: ${formatNumber(point.y)} at step ${point.x}`;
    ctx.save();
    ctx.font = `${Math.max(10, this.theme.fontSize - 1)}px ${this.theme.fontFamily}`;
    const width = ctx.measureText(text).width + 12;
    const left = Math.min(Math.max(area.left, px + 8), area.right - width);
    const top = py - 26 < area.top ? py + 8 : py - 26;
    ctx.fillStyle = this.theme.background;
    ctx.strokeStyle = this.theme.gridLines;
    ctx.fillRect(left, top, width, 20);
    ctx.strokeRect(left, top, width, 20);
    ctx.fillStyle = this.theme.foreground;
    ctx.textBaseline = 'middle';
    ctx.fillText(text, left + 6, top + 10);
    ctx.beginPath();
    ctx.arc(px, py, 3, 0, 2 * Math.PI);
    ctx.fillStyle = this.colors[index];
    ctx.fill();
    ctx.restore();
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
      events: [],
      scales: {
        x: { type: 'linear' as const, ...axisStyle(theme, 'step') },
        y: {
          type: 'logarithmic' as const,
          ...axisStyle(theme, 'gradient RMS'),
          ticks: { ...axisStyle(theme, '').ticks, callback: powerOfTenLabel, autoSkip: true },
        },
      },
      plugins: { ...base.plugins, legend: { display: false }, tooltip: { enabled: false } },
    };
  }
}

function nearestByX(points: ChartPoint[], x: number): ChartPoint {
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].x < x) lo = mid + 1;
    else hi = mid;
  }
  const before = points[Math.max(0, lo - 1)];
  return Math.abs(before.x - x) < Math.abs(points[lo].x - x) ? before : points[lo];
}
