import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FindingCode } from '../../shared/codes';
import type { DiagnosisContext, TorchFixContext } from '../../shared/diagnosis';
import { ENGINE_PROTOCOL_VERSION } from '../../shared/engineProtocol';
import type { Finding } from '../../shared/findings';
import { planFixes } from '../../shared/fixes/index';
import type { LayerInfo } from '../../shared/model';
import type { Report } from '../../shared/report';
import { createDiagnoser, THRESHOLDS } from '../../shared/rules/index';
import type { RunCloseRecord, RunEnd, RunHeader, RunRecord, RunStepRecord } from '../../shared/runFile';
import type { ResolvedRunOptions } from '../../shared/runOptions';
import type { StepStats } from '../../shared/stats';
import type { EngineSink } from '../analyze';
import { layerInfoFromTorch, optimizerNameFromTorch } from '../pytorch/layers';
import { layerSummaryFrom } from '../report/layerSummary';
import { median, StepBatcher } from '../train/loop';
import { RunFileReader } from './runFileReader';
import { processAlive } from './runList';

/**
 * The steps the rules keep. Up to this many, a run file is judged exactly as the short run is
 * (every logged step); beyond it every second kept step is dropped and the rules re-read what is
 * left (the stride doubles), so a 10⁶-record run costs the memory of this many StepStats.
 */
export const DEFAULT_KEPT_STEPS = 20_000;

/** Findings that read the loss curve alone: without a logged loss they would judge a made-up one. */
const LOSS_ONLY: ReadonlySet<FindingCode> = new Set(['slow-convergence', 'oscillating-loss', 'learning-rate-too-low']);

interface Kept {
  index: number;
  stats: StepStats;
}

/**
 * The shared rules over a run of any length: every record is seen once as it arrives (the live
 * rules fire on it), at most `cap` are kept. The first broken step (non-finite, or a loss far
 * above chance) and the one before it are always kept, so `non-finite` and `exploding-gradient`
 * name the step where the run broke however long it is. A finding keeps the form it had when
 * first found.
 */
export class BoundedDiagnosis {
  private kept: Kept[] = [];
  private stride = 1;
  private seen = 0;
  private pinned = new Set<number>();
  private previous: Kept | undefined;
  private lastFed = -1;
  private readonly recent: Kept[] = [];
  private brokenSeen = false;
  private diagnoser: ReturnType<typeof createDiagnoser>;
  private readonly found = new Map<FindingCode, Finding>();

  constructor(
    private readonly ctx: DiagnosisContext,
    private readonly cap = DEFAULT_KEPT_STEPS,
  ) {
    this.diagnoser = createDiagnoser(ctx);
  }

  get steps(): StepStats[] {
    return this.kept.map((k) => k.stats);
  }

  get count(): number {
    return this.seen;
  }

  observe(stats: StepStats): Finding[] {
    const entry: Kept = { index: this.seen++, stats };
    const fresh: Finding[] = [];
    if (!this.brokenSeen && this.broken(stats)) {
      this.brokenSeen = true;
      this.pinned.add(entry.index);
      if (this.previous && this.previous.index > this.lastFed) {
        this.pinned.add(this.previous.index);
        fresh.push(...this.feed(this.previous));
      }
    }
    if (entry.index % this.stride === 0 || this.pinned.has(entry.index)) fresh.push(...this.feed(entry));
    this.previous = entry;
    this.recent.push(entry);
    if (this.recent.length > THRESHOLDS.lossWindowSteps.value) this.recent.shift();
    if (this.kept.length > this.cap) this.compact();
    return fresh;
  }

  finish(): Finding[] {
    // The last steps always count: the rules read the final loss level from them.
    const fresh: Finding[] = [];
    for (const entry of this.recent) if (entry.index > this.lastFed) fresh.push(...this.feed(entry));
    fresh.push(...this.record(this.diagnoser.finish()));
    return fresh;
  }

  get findings(): Finding[] {
    return [...this.found.values()];
  }

  private feed(entry: Kept): Finding[] {
    this.kept.push(entry);
    this.lastFed = entry.index;
    return this.record(this.diagnoser.observe(entry.stats));
  }

  private record(findings: Finding[]): Finding[] {
    const fresh = findings.filter((f) => !this.found.has(f.code));
    for (const finding of fresh) this.found.set(finding.code, finding);
    return fresh;
  }

  private compact(): void {
    this.stride *= 2;
    this.kept = this.kept.filter((k) => k.index % this.stride === 0 || this.pinned.has(k.index));
    // The rules hold their own history: a new diagnoser re-reads the thinned one. Findings it makes
    // again are already known; one it makes only now (a rule reading the thinner history) is new.
    this.diagnoser = createDiagnoser(this.ctx);
    for (const k of this.kept) this.record(this.diagnoser.observe(k.stats));
  }

  private broken(stats: StepStats): boolean {
    const chance = Math.log(Math.max(2, this.ctx.numClasses));
    return (
      !Number.isFinite(stats.loss) ||
      stats.loss > THRESHOLDS.divergingLossFactor.value * chance ||
      stats.layers.some((l) => l.gradNonFinite > 0 || !Number.isFinite(l.gradRms))
    );
  }
}

export interface RunAnalysisOptions {
  /** Keep reading as the file grows until its close record (or `signal`). */
  follow?: boolean;
  signal?: AbortSignal;
  /** Steps the rules keep (default DEFAULT_KEPT_STEPS). */
  keptSteps?: number;
  maxEventsPerSecond?: number;
  thresholds?: ResolvedRunOptions['thresholds'];
}

/** How the file ended, in words for the report and the panel. */
export function describeEnd(end: RunEnd, truncated: boolean): string | undefined {
  const tail = truncated ? '; its last line was cut off mid-write and is skipped' : '';
  if (end.kind === 'open') return `the run ended abnormally: the file has no close record (the process was killed or crashed, or a torch.multiprocessing rank ended without run.close())${tail}`;
  if (end.kind === 'failed') return `the run ended with an error${end.close.error ? `: ${end.close.error}` : ''}${tail}`;
  return truncated ? `the file's last line was cut off mid-write and is skipped` : undefined;
}

/**
 * Judges a run file with the rules of the short run: the header's layers become the same
 * `LayerInfo`s a PyTorch short run reports (pytorch/layers.ts), every step record goes through
 * the same diagnoser, findings get the same Python fix plans, and the result is the same `Report`.
 * Events go to `sink` as the engine's protocol (ready, step, finding, done), so the editor and
 * the CLI consume a recorded run as they consume a short run.
 */
export async function analyzeRunFile(file: string, sink: EngineSink, options: RunAnalysisOptions = {}): Promise<Report> {
  const runPath = path.resolve(file);
  const reader = new RunFileReader(runPath);
  const batcher = new StepBatcher((steps) => sink({ type: 'step', steps }), options.maxEventsPerSecond);
  let header: RunHeader | undefined;
  let layers: LayerInfo[] = [];
  let resolved: ResolvedRunOptions | undefined;
  let diagnosis: BoundedDiagnosis | undefined;
  let torch: TorchFixContext | undefined;
  let modelText = '';
  let close: RunCloseRecord | undefined;
  let lastLoss: number | undefined;
  let lossLogged = false;
  let lastStep: RunStepRecord | undefined;
  let firstTime: number | undefined;
  const intervals: number[] = [];
  const findings: Finding[] = [];

  const withFixes = (finding: Finding): Finding => {
    try {
      return { ...finding, fixes: modelText ? planFixes(finding, { text: modelText, format: 'pytorch', layers, options: resolved!, torch }) : [] };
    } catch (error) {
      sink({ type: 'log', message: `no fixes for ${finding.code}: ${(error as Error).message}` });
      return { ...finding, fixes: [] };
    }
  };
  const emit = (found: Finding[]) => {
    for (const finding of found) {
      if (!lossLogged && LOSS_ONLY.has(finding.code)) continue;
      batcher.flush();
      const complete = withFixes(finding);
      findings.push(complete);
      sink({ type: 'finding', finding: complete });
    }
  };

  const onHeader = (h: RunHeader) => {
    header = h;
    layers = h.layers.map((layer) => layerInfoFromTorch(layer, h.modelFile));
    resolved = {
      steps: 0,
      batchSize: 0,
      learningRate: h.learningRate,
      optimizer: optimizerNameFromTorch(h.optimizer, (h.momentum ?? 0) > 0),
      loss: 'logged by the script',
      data: 'the training script\'s',
      seed: 0,
      backend: backendOf(h),
      ...(options.thresholds ? { thresholds: options.thresholds } : {}),
    };
    torch = { modelPath: h.modelFile, entry: h.entry, layers: h.layers, ...(h.optimizerSite ? { optimizerSite: h.optimizerSite } : {}) };
    modelText = readModelText(h.modelFile);
    diagnosis = new BoundedDiagnosis({ layers, options: resolved, numClasses: h.numClasses ?? 10 }, options.keptSteps);
    sink({ type: 'ready', protocolVersion: ENGINE_PROTOCOL_VERSION, backend: resolved.backend, modelPath: h.modelFile, format: 'pytorch', layers, options: resolved, warnings: [] });
  };

  const onStep = (record: RunStepRecord) => {
    if (!diagnosis) return;
    const loss = record.stats.loss;
    if (typeof loss === 'number') {
      lossLogged = true;
      lastLoss = loss;
    }
    // A step without a logged loss carries the last one on (0 before any): an unknown loss is not a non-finite one.
    const stats: StepStats = { ...record.stats, loss: typeof loss === 'number' ? loss : (lastLoss ?? 0) };
    if (lastStep && record.stats.step > lastStep.stats.step) intervals.push(((record.time - lastStep.time) * 1000) / (record.stats.step - lastStep.stats.step));
    firstTime ??= record.time;
    lastStep = record;
    batcher.add(stats);
    emit(diagnosis.observe(stats));
  };

  // Each record is judged as the reader parses it: a 10⁶-record file never sits in memory as records.
  const onRecord = (record: RunRecord) => {
    if (record.type === 'header') onHeader(record);
    else if (record.type === 'step') onStep(record);
    else if (record.type === 'close') close = record;
  };
  try {
    await reader.readAvailable(onRecord);
    while (options.follow && !close && !options.signal?.aborted) {
      await reader.changed(options.signal);
      await reader.readAvailable(onRecord);
    }
    reader.finish(onRecord);
  } finally {
    await reader.close();
  }
  if (!header || !resolved || !diagnosis) throw new Error(`${runPath}: no run header was read`);
  batcher.flush();
  emit(diagnosis.finish());

  const end: RunEnd = close ? (close.status === 'failed' ? { kind: 'failed', close } : { kind: 'completed', close }) : { kind: 'open' };
  const kept = diagnosis.steps;
  const stepsRun = close?.steps ?? (lastStep ? lastStep.stats.step + 1 : 0);
  resolved.steps = stepsRun;
  const warnings: string[] = [];
  // No close record while the writer still runs here: a live run read part-way, not a dead one.
  const live = end.kind === 'open' && typeof header.pid === 'number' && header.pid !== process.pid && processAlive(header.pid);
  const ended = live
    ? `the run is still writing (process ${header.pid} is running): this report covers the ${diagnosis.count} logged steps so far; --follow waits for its end`
    : describeEnd(end, reader.truncatedLastLine);
  if (ended) warnings.push(ended);
  if (!lossLogged && diagnosis.count > 0) warnings.push('no loss was logged (call run.log(loss) each step): the findings that read the loss curve alone are left out');
  if (!modelText) warnings.push(`${header.modelFile} could not be read: findings come without fixes`);
  const skipped = close?.skippedSteps ?? lastStep?.skippedSteps ?? 0;
  if (skipped > 0) warnings.push(`GradScaler skipped ${skipped} step${skipped === 1 ? '' : 's'} (inf/NaN in the scaled gradients); those are not recorded`);
  if (diagnosis.count > kept.length) warnings.push(`${diagnosis.count} logged steps: the rules judged ${kept.length} of them, evenly spaced, with the first and last steps and the first broken one`);
  const endTime = close?.time ?? lastStep?.time ?? header.startedAt;
  const report: Report = {
    schemaVersion: 1,
    model: {
      path: header.modelFile,
      format: 'pytorch',
      layers: layers.map((layer) => ({ name: layer.name, className: layer.className, range: layer.range, ...(layer.file ? { file: layer.file } : {}) })),
    },
    run: {
      backend: resolved.backend,
      steps: stepsRun,
      batchSize: 0,
      optimizer: resolved.optimizer,
      learningRate: resolved.learningRate,
      seed: 0,
      durationMs: Math.max(0, Math.round((endTime - header.startedAt) * 1000)),
      stepMsMedian: median(intervals),
      loss: resolved.loss,
      data: resolved.data,
      stepsCompleted: stepsRun,
      cancelled: false,
      runFile: runPath,
      loggedSteps: diagnosis.count,
      ended: end.kind === 'open' ? (live ? 'live' : 'abnormally') : end.kind,
      worldSize: header.worldSize,
    },
    history: { loss: kept.map((s) => s.loss) },
    findings,
    layerSummary: layerSummaryFrom(kept, layers),
  };
  if (warnings.length > 0) report.warnings = warnings;
  sink({ type: 'done', report });
  return report;
}

function backendOf(h: RunHeader): string {
  const ranks = h.distributed ? `, ${h.worldSize} ranks${h.backend ? ` over ${h.backend}` : ''}` : '';
  return `torch ${h.torchVersion} (watch, ${h.device}${ranks}, every ${h.every} steps)`;
}

/** The model file's text for the fix planners ('' when it is gone: findings then come without fixes). */
function readModelText(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    return '';
  }
}
