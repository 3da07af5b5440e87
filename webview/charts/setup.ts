import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { ChartDataSummary, ChartId } from '../../src/shared/viewProtocol';
import type { RunModel } from '../runModel';
import type { ThemeColors } from '../theme';

// Only what the four charts use, so the bundle leaves the rest of Chart.js out.
Chart.register(
  LineController,
  BarController,
  LineElement,
  PointElement,
  BarElement,
  LinearScale,
  LogarithmicScale,
  CategoryScale,
  Tooltip,
  Legend,
);

export { Chart };

/** What the panel asks of each chart. */
export interface PanelChart {
  readonly id: ChartId;
  readonly canvas: HTMLCanvasElement;
  /** Puts the model's current data into the chart (and its aria-label) without drawing. */
  sync(model: RunModel): void;
  /** Draws what `sync` put in; the panel calls it only for charts on screen. */
  draw(): void;
  setTheme(theme: ThemeColors): void;
  summary(): ChartDataSummary;
  /** The chart as `data:image/png;base64,…`, on the panel's background so it reads outside VS Code. */
  toPng(): string;
}

let panelBackground = '#1e1e1e';

export function setPanelBackground(color: string): void {
  panelBackground = color;
}

// Canvases are transparent; painting the theme background under each chart keeps an exported
// PNG legible wherever it is opened.
const backgroundPlugin = {
  id: 'panelBackground',
  beforeDraw(chart: Chart) {
    const context = chart.ctx;
    context.save();
    context.globalCompositeOperation = 'destination-over';
    context.fillStyle = panelBackground;
    context.fillRect(0, 0, chart.width, chart.height);
    context.restore();
  },
};
Chart.register(backgroundPlugin);

export function createCanvas(container: HTMLElement, label: string): HTMLCanvasElement {
  const box = document.createElement('div');
  box.className = 'chart-box';
  const canvas = document.createElement('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  box.append(canvas);
  container.append(box);
  return canvas;
}

export function setAriaLabel(canvas: HTMLCanvasElement, label: string): void {
  if (canvas.getAttribute('aria-label') !== label) canvas.setAttribute('aria-label', label);
}

/** Settings every chart shares: no animation (live data), theme fonts and colours. */
export function commonOptions(theme: ThemeColors) {
  return {
    animation: false as const,
    responsive: true,
    maintainAspectRatio: false,
    normalized: true,
    color: theme.foreground,
    borderColor: theme.gridLines,
    font: { family: theme.fontFamily, size: Math.max(10, theme.fontSize - 2) },
    plugins: {
      legend: {
        labels: { color: theme.foreground, boxWidth: 12, boxHeight: 2, font: { family: theme.fontFamily } },
      },
      tooltip: {
        backgroundColor: theme.background,
        titleColor: theme.foreground,
        bodyColor: theme.foreground,
        borderColor: theme.gridLines,
        borderWidth: 1,
      },
    },
  };
}

export function axisStyle(theme: ThemeColors, title: string) {
  return {
    grid: { color: theme.gridLines },
    border: { color: theme.gridLines },
    // Measuring every tick label on every update is most of an axis' cost: sample a few.
    ticks: { color: theme.mutedForeground, font: { family: theme.fontFamily }, sampleSize: 8 },
    title: { display: title !== '', text: title, color: theme.mutedForeground, font: { family: theme.fontFamily } },
  };
}

interface DrawnDataset {
  data: unknown[];
  borderColor?: unknown;
  backgroundColor?: unknown;
}

/** Log axes span many decades here; label only the powers of ten. */
export function powerOfTenLabel(value: string | number): string {
  const exponent = Math.log10(Number(value));
  return Number.isInteger(exponent) ? `1e${exponent}` : '';
}

export function summarize(datasets: DrawnDataset[], canvas: HTMLCanvasElement): ChartDataSummary {
  const first = datasets[0];
  const color = first ? (first.borderColor ?? first.backgroundColor) : undefined;
  return {
    seriesCount: datasets.length,
    pointsPerSeries: datasets.map((d) => d.data.length),
    ariaLabel: canvas.getAttribute('aria-label') ?? '',
    firstSeriesColor: String(Array.isArray(color) ? color[0] : (color ?? '')),
  };
}
