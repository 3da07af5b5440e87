import type { Finding, FixComparison } from './findings';
import type { LrRangeResult } from './lrRange';
import type { LayerInfo } from './model';
import type { StepStats } from './stats';
import type { StepSeries } from './stepSeries';
import { THRESHOLDS } from './rules/thresholds';

/**
 * Messages between the extension host and the Gradient Lens side panel (the webview), sent
 * with `webview.postMessage` / `acquireVsCodeApi().postMessage`. The host keeps the run's
 * history; the panel is a cache of it that can be rebuilt at any time from a `snapshot`.
 *
 * Typical sequence:
 *   view → `ready`                       (on load, and again after the view was disposed and re-created)
 *   host → `snapshot`                    (full state; the only message the view needs after `ready`)
 *   host → `steps` / `finding` / `status` (live, while a run goes on; the host posts only to a visible view
 *                                         and sends a fresh `snapshot` when it becomes visible again)
 *   host → `snapshot`                    (when a new run starts: empty steps, `comparison` = the previous
 *                                         run of the same file, so the panel shows before/after)
 *   host → `clear`                       (nothing to show, e.g. the analysed file was closed or deleted)
 *
 * Bump the version when a message changes shape; additions of optional fields do not bump it.
 */
export const VIEW_PROTOCOL_VERSION = 2;

/**
 * How often the live view refreshes: the engine reports steps, the host posts them and the
 * panel redraws its charts at most once per interval. Four a second reads as live for a
 * training run; at twenty, in a software-rendered VS Code (code-server in headless Chromium on
 * 2 cores), redrawing cost the browser 70 % of a core and the extension host waited for CPU.
 */
export const LIVE_UPDATE_INTERVAL_MS = 250;

/** The subset of LayerInfo the panel needs, in model-file order. */
export type ViewLayer = Pick<LayerInfo, 'name' | 'className'> & { instrumented: boolean };

export type RunPhase = 'idle' | 'starting' | 'running' | 'done' | 'cancelled' | 'failed';

export interface RunStatus {
  phase: RunPhase;
  /** Steps completed so far (running), or in total (done / cancelled). */
  step?: number;
  /** Steps the run was asked for. */
  totalSteps?: number;
  /** Shown next to the status: the failure's one-line reason, or e.g. the backend in use. */
  message?: string;
}

/** A finished earlier run of the same model file, drawn dashed for before/after. */
export interface ComparisonRun {
  /** Shown in legends, e.g. "before fix" or the time the run finished. */
  label: string;
  layers: ViewLayer[];
  series: StepSeries;
  findings: Finding[];
}

export interface ViewSettings {
  /**
   * Most points drawn per series; the panel downsamples (min-max per bucket) above it. The
   * per-layer gradient chart also keeps its total points bounded, so with many layers each of
   * its series gets fewer.
   */
  chartPointBudget: number;
  /** Where the gradient-flow bars turn vanishing or exploding: the user's thresholds, as the rules use them. */
  flowThresholds: FlowThresholds;
}

export interface FlowThresholds {
  /** A layer below this fraction of the last layer's gradient RMS is drawn as vanishing. */
  vanishingRatio: number;
  /** …above this multiple of it, as exploding. */
  explodingRatio: number;
}

export const DEFAULT_VIEW_SETTINGS: ViewSettings = {
  chartPointBudget: 400,
  flowThresholds: { vanishingRatio: THRESHOLDS.vanishingRatio.value, explodingRatio: THRESHOLDS.explodingRatio.value },
};

export type ChartId = 'gradientRms' | 'gradientFlow' | 'loss' | 'activationHealth';

// ──── host → view ────

/** Sent by the host in answer to every `ready`, and whenever a new run starts: the panel's full state. */
export interface SnapshotMessage {
  type: 'snapshot';
  protocolVersion: number;
  status: RunStatus;
  /** Absolute path of the analysed model file; null before the first run. */
  modelPath: string | null;
  layers: ViewLayer[];
  /** Every step so far, in order, as typed-array columns (binary in postMessage, not JSON). */
  series: StepSeries;
  findings: Finding[];
  comparison: ComparisonRun | null;
  settings: ViewSettings;
  /** The learning-rate range test of the run, when it ran (Find learning rate, or a suspected rate). */
  lrRange?: LrRangeResult | null;
  /** Compare fixes: the top finding's candidates rerun and ranked. */
  fixComparison?: FixComparison | null;
}

/** Sent by the host while a run goes on (at most one per LIVE_UPDATE_INTERVAL_MS): steps that follow the ones the view has. */
export interface StepsMessage {
  type: 'steps';
  steps: StepStats[];
}

/** Sent by the host when the engine reports a finding (live, or at the end of the run). */
export interface FindingMessageToView {
  type: 'finding';
  finding: Finding;
}

/** Sent by the host when the run's phase or progress text changes. */
export interface StatusMessage {
  type: 'status';
  status: RunStatus;
}

/** Sent by the host when there is nothing to show: the panel returns to its empty state. */
export interface ClearMessage {
  type: 'clear';
}

export type HostToViewMessage = SnapshotMessage | StepsMessage | FindingMessageToView | StatusMessage | ClearMessage;

// ──── view → host ────

/** Sent by the view once its script has loaded and it can take messages; the host answers with `snapshot`. */
export interface ReadyMessage {
  type: 'ready';
  protocolVersion: number;
}

/** Sent when the user activates a finding or a layer: the host reveals the layer's line in the model file. */
export interface RevealLayerMessage {
  type: 'revealLayer';
  layer: string;
}

/** Sent from the Export menu: the host formats the current run's report and asks where to save it. */
export interface ExportReportMessage {
  type: 'exportReport';
  format: 'markdown' | 'json';
}

/** Sent from a chart's export button: `dataUrl` is `data:image/png;base64,…`; the host asks where to save it. */
export interface ExportChartMessage {
  type: 'exportChart';
  chart: ChartId;
  dataUrl: string;
}

/** Sent from the Stop button while a run goes on. */
export interface StopMessage {
  type: 'stop';
}

/** Sent from the Re-run button: analyse the same model file again (the current run becomes the comparison). */
export interface RerunMessage {
  type: 'rerun';
}

/** Sent from the Find learning rate button: re-run with the learning-rate range test (`--find-lr`). */
export interface FindLearningRateMessage {
  type: 'findLearningRate';
}

/** Sent from the Compare fixes button: re-run and try every candidate fix of the top finding (`--compare-fixes`). */
export interface CompareFixesMessage {
  type: 'compareFixes';
}

export type ViewToHostMessage =
  | ReadyMessage
  | RevealLayerMessage
  | ExportReportMessage
  | ExportChartMessage
  | StopMessage
  | RerunMessage
  | FindLearningRateMessage
  | CompareFixesMessage;

const CHART_IDS: readonly ChartId[] = ['gradientRms', 'gradientFlow', 'loss', 'activationHealth'];

/** The host's check on what a webview posts (the webview is a separate, less trusted context). */
export function isViewToHostMessage(value: unknown): value is ViewToHostMessage {
  if (typeof value !== 'object' || value === null) return false;
  const msg = value as Record<string, unknown>;
  switch (msg.type) {
    case 'ready':
      return typeof msg.protocolVersion === 'number';
    case 'revealLayer':
      return typeof msg.layer === 'string';
    case 'exportReport':
      return msg.format === 'markdown' || msg.format === 'json';
    case 'exportChart':
      return CHART_IDS.includes(msg.chart as ChartId) && typeof msg.dataUrl === 'string' && msg.dataUrl.startsWith('data:image/png;base64,');
    case 'stop':
    case 'rerun':
    case 'findLearningRate':
    case 'compareFixes':
      return true;
    default:
      return false;
  }
}

// ──── test hook ────

/**
 * What the panel exposes as `window.__gradientLens` for end-to-end tests, so they can assert on
 * the charts' data rather than on canvas pixels. Refreshed after every redraw.
 */
export interface ViewTestHook {
  /** Steps the panel holds for the current run (before downsampling). */
  stepCount: number;
  layerCount: number;
  findingCount: number;
  status: RunStatus;
  /** The theme the colours were last read for: 'dark' | 'light' | 'high-contrast' | 'high-contrast-light'. */
  theme: string;
  /** Redraws so far (each one coalesces every message that arrived since the previous). */
  redraws: number;
  charts: Record<ChartId, ChartDataSummary>;
  /** The range test's points and the compared fixes with a result, as the panel last drew them. */
  measurements?: { lrRangePoints: number; comparedCandidates: number };
}

export interface ChartDataSummary {
  /** Datasets drawn, comparison series included. */
  seriesCount: number;
  /** Points (or bars) per dataset, in dataset order. */
  pointsPerSeries: number[];
  /** The canvas's aria-label. */
  ariaLabel: string;
  /** First dataset's colour, so a test can see a theme change recolour the chart. */
  firstSeriesColor: string;
}
