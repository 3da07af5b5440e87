import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import type { ChartDataset } from 'chart.js';
import type { FixComparison } from '../src/shared/findings';
import type { LrRangeResult } from '../src/shared/lrRange';
import { Chart, axisStyle, commonOptions, createCanvas, powerOfTenLabel, setAriaLabel } from './charts/setup';
import { formatNumber } from './format';
import { withAlpha, type ThemeColors } from './theme';

type Point = { x: number; y: number };
type LineDataset = ChartDataset<'line', Point[]>;

/**
 * What a re-run measured beyond the run itself: the learning-rate range test (loss against the
 * rate on a log axis, the file's rate and the suggestion marked) and the fix comparison (each
 * candidate's loss curve beside the run as it is). Redrawn only when a snapshot brings them, so
 * outside the live charts' frame budget.
 */
export class MeasurementsView {
  readonly rangeSection: HTMLElement;
  readonly compareSection: HTMLElement;
  private readonly rangeCanvas: HTMLCanvasElement;
  private readonly compareCanvas: HTMLCanvasElement;
  private readonly rangeNote = document.createElement('p');
  private readonly compareNote = document.createElement('p');
  private rangeChart: Chart<'line', Point[]> | undefined;
  private compareChart: Chart<'line', Point[]> | undefined;
  private shown: { range: LrRangeResult | null; comparison: FixComparison | null } = { range: null, comparison: null };

  constructor(private theme: ThemeColors) {
    const rangeBody = document.createElement('div');
    const compareBody = document.createElement('div');
    this.rangeCanvas = createCanvas(rangeBody, 'Learning-rate range test: not run');
    this.compareCanvas = createCanvas(compareBody, 'Fix comparison: not run');
    this.rangeNote.className = 'measurement-note';
    this.compareNote.className = 'measurement-note';
    rangeBody.append(this.rangeNote);
    compareBody.append(this.compareNote);
    this.rangeSection = collapsible('lrRange', 'Learning-rate range test', rangeBody);
    this.compareSection = collapsible('fixComparison', 'Fixes compared', compareBody);
  }

  show(range: LrRangeResult | null, comparison: FixComparison | null): void {
    this.shown = { range, comparison };
    this.rangeSection.hidden = range === null;
    this.compareSection.hidden = comparison === null;
    if (range) this.drawRange(range);
    if (comparison) this.drawComparison(comparison);
  }

  setTheme(theme: ThemeColors): void {
    this.theme = theme;
    this.rangeChart?.destroy();
    this.compareChart?.destroy();
    this.rangeChart = this.compareChart = undefined;
    this.show(this.shown.range, this.shown.comparison);
  }

  /** Points drawn, for the end-to-end tests' hook. */
  summary(): { lrRangePoints: number; comparedCandidates: number } {
    return {
      lrRangePoints: this.shown.range?.points.length ?? 0,
      comparedCandidates: this.shown.comparison?.candidates.filter((c) => c.outcome).length ?? 0,
    };
  }

  private drawRange(range: LrRangeResult): void {
    const smoothed = range.points.map((p) => ({ x: p.lr, y: p.smoothed }));
    const losses = range.points.map((p) => p.loss).filter(Number.isFinite);
    const low = Math.min(...losses);
    const high = Math.max(...smoothed.map((p) => p.y));
    const marker = (label: string, lr: number, color: string, dash: number[]): LineDataset => ({
      label,
      data: [
        { x: lr, y: low },
        { x: lr, y: high },
      ],
      borderColor: color,
      backgroundColor: color,
      borderDash: dash,
      borderWidth: 1.5,
      pointRadius: 0,
      parsing: false,
    });
    const datasets: LineDataset[] = [
      { label: 'smoothed loss', data: smoothed, borderColor: this.theme.blue, backgroundColor: this.theme.blue, borderWidth: 1.5, pointRadius: 0, parsing: false },
      {
        label: 'loss per step',
        data: range.points.map((p) => ({ x: p.lr, y: p.loss })),
        borderColor: withAlpha(this.theme.blue, 0.35),
        backgroundColor: withAlpha(this.theme.blue, 0.35),
        borderWidth: 1,
        pointRadius: 0,
        parsing: false,
      },
      marker(`the file's rate ${formatNumber(range.currentLr)}`, range.currentLr, this.theme.red, [4, 3]),
    ];
    if (range.suggestedLr !== undefined) datasets.push(marker(`suggested ${formatNumber(range.suggestedLr)}`, range.suggestedLr, this.theme.green, []));
    this.rangeChart = this.render(this.rangeChart, this.rangeCanvas, datasets, { type: 'logarithmic', title: 'learning rate' }, 'loss');
    const suggestion = range.suggestedLr !== undefined ? `suggested ${formatNumber(range.suggestedLr)}, the file's ${formatNumber(range.currentLr)}` : `no rate suggested: ${range.note ?? ''}`;
    this.rangeNote.textContent = `${range.optimizer}, ${range.points.length} of ${range.sweep.steps} steps: ${suggestion}`;
    setAriaLabel(this.rangeCanvas, `Learning-rate range test: loss against rates ${formatNumber(range.sweep.startLr)} to ${formatNumber(range.points[range.points.length - 1]?.lr ?? range.sweep.endLr)}; ${suggestion}`);
  }

  private drawComparison(comparison: FixComparison): void {
    const palette = [this.theme.green, this.theme.orange, this.theme.purple, this.theme.yellow, this.theme.blue];
    const curve = (loss: number[]) => loss.map((y, x) => ({ x, y })).filter((p) => Number.isFinite(p.y));
    const datasets: LineDataset[] = [
      {
        label: `as it is (${formatNumber(comparison.baseline.finalLoss)})`,
        data: curve(comparison.baseline.loss),
        borderColor: withAlpha(this.theme.foreground, 0.6),
        backgroundColor: withAlpha(this.theme.foreground, 0.6),
        borderDash: [5, 4],
        borderWidth: 1.5,
        pointRadius: 0,
        parsing: false,
      },
    ];
    comparison.candidates.forEach((candidate, i) => {
      if (!candidate.outcome) return;
      const color = palette[i % palette.length];
      datasets.push({
        label: `${candidate.rank}. ${candidate.fixCode} (${formatNumber(candidate.outcome.finalLoss)})`,
        data: curve(candidate.outcome.loss),
        borderColor: color,
        backgroundColor: color,
        borderWidth: 1.5,
        pointRadius: 0,
        parsing: false,
      });
    });
    this.compareChart = this.render(this.compareChart, this.compareCanvas, datasets, { type: 'linear', title: 'step' }, 'loss');
    const failed = comparison.candidates.filter((c) => !c.outcome).map((c) => `${c.fixCode} failed: ${c.error ?? ''}`);
    this.compareNote.textContent = `${comparison.findingCode}${comparison.layer ? ` (${comparison.layer})` : ''}: ${comparison.candidates.length} fixes, same seed and steps, ${comparison.parallel} at once${failed.length ? `; ${failed.join('; ')}` : ''}`;
    setAriaLabel(this.compareCanvas, `Fixes compared: ${datasets.map((d) => d.label).join(', ')}`);
  }

  private render(existing: Chart<'line', Point[]> | undefined, canvas: HTMLCanvasElement, datasets: LineDataset[], x: { type: 'logarithmic' | 'linear'; title: string }, yTitle: string): Chart<'line', Point[]> {
    if (existing) {
      existing.data.datasets = datasets;
      existing.update('none');
      return existing;
    }
    const xAxis = { ...axisStyle(this.theme, x.title), type: x.type };
    if (x.type === 'logarithmic') xAxis.ticks = { ...xAxis.ticks, callback: powerOfTenLabel } as typeof xAxis.ticks;
    return new Chart<'line', Point[]>(canvas, {
      type: 'line',
      data: { datasets },
      options: { ...commonOptions(this.theme), scales: { x: xAxis, y: { ...axisStyle(this.theme, yTitle), type: 'linear' } } } as never,
    });
  }
}

function collapsible(id: string, heading: string, body: HTMLElement): HTMLElement {
  const section = document.createElement('vscode-collapsible') as HTMLElement & { heading: string; open: boolean };
  section.id = `section-${id}`;
  section.heading = heading;
  section.open = true;
  section.hidden = true;
  section.append(body);
  return section;
}
