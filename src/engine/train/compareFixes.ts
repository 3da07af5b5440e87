import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FindingCode } from '../../shared/codes';
import type { Finding, FixCandidateResult, FixComparison, Fix, RunOutcome } from '../../shared/findings';
import type { Report } from '../../shared/report';
import type { ResolvedRunOptions, RunOptions } from '../../shared/runOptions';
import type { StepStats } from '../../shared/stats';
import { THRESHOLDS } from '../../shared/rules/thresholds';
import { applyEdits } from '../../shared/fixes/index';
import { EngineProcess } from '../runner';
import { preloadTfjsEnv } from '../startupPhases';
// Not './verifyFixes': that loads TF.js, and the PyTorch path (which calls this too) must not.
import { runFigures } from './runFigures';

const SEVERITY_RANK = { error: 0, warning: 1, info: 2 } as const;

/** The finding `--compare-fixes` works on: the most severe one with at least two fixes to weigh (else with one), first found first. */
export function topFinding(findings: Finding[]): Finding | undefined {
  const ranked = findings.filter((f) => f.fixes.length > 0).sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
  return ranked.find((f) => f.severity === ranked[0].severity && f.fixes.length > 1) ?? ranked[0];
}

const mean = (values: number[]): number => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);

/** A run's outcome from its steps: the last `lossWindowSteps` steps' mean loss and accuracy, and the last step's gradient figures. */
export function outcomeOf(loss: number[], accuracy: number[], firstLastRatio: number, deadFraction: number, durationMs: number): RunOutcome {
  const window = THRESHOLDS.lossWindowSteps.value;
  return {
    finalLoss: mean(loss.slice(-window)),
    accuracy: mean(accuracy.slice(-window)),
    firstLastRatio,
    deadFraction,
    loss,
    steps: loss.length,
    durationMs,
  };
}

function outcomeOfHistory(history: StepStats[], durationMs: number): RunOutcome {
  const figures = runFigures(history);
  return outcomeOf(history.map((s) => s.loss), history.map((s) => s.accuracy ?? 0), figures.firstLastRatio, figures.deadFraction, durationMs);
}

function outcomeOfReport(report: Report): RunOutcome {
  const summary = report.layerSummary ?? [];
  const ratio = summary.length > 1 ? summary[0].ratioToLast : NaN;
  const dead = Math.max(0, ...summary.map((l) => l.deadFraction ?? 0));
  return outcomeOf(report.history.loss, report.history.accuracy ?? [], ratio, dead, report.run.durationMs);
}

/** Losses this close (relative) count as a tie, decided by the next figure: one batch of 32 varies the loss by ±10 %, five averaged by about 4 %. */
const LOSS_TIE = 0.04;

/**
 * Best first: a finite final loss before a non-finite one, then the lower final loss; within 4 %
 * of each other the higher accuracy, then the first/last gradient ratio nearer 1 (in decades),
 * then the smaller dead fraction.
 */
export function compareOutcomes(a: RunOutcome, b: RunOutcome): number {
  const finiteA = Number.isFinite(a.finalLoss);
  const finiteB = Number.isFinite(b.finalLoss);
  if (finiteA !== finiteB) return finiteA ? -1 : 1;
  if (finiteA && Math.abs(a.finalLoss - b.finalLoss) > LOSS_TIE * Math.max(a.finalLoss, b.finalLoss)) return a.finalLoss - b.finalLoss;
  if (Math.abs(a.accuracy - b.accuracy) > 0.01) return b.accuracy - a.accuracy;
  const decades = (r: number) => (r > 0 && Number.isFinite(r) ? Math.abs(Math.log10(r)) : Infinity);
  const da = decades(a.firstLastRatio);
  const db = decades(b.firstLastRatio);
  if (Math.abs(da - db) > 0.5) return da - db;
  if (a.deadFraction !== b.deadFraction) return a.deadFraction - b.deadFraction;
  return finiteA ? a.finalLoss - b.finalLoss : 0;
}

/** Run options of a candidate: the run's own, the fix's setting where it is one, nothing of its own analysis extras. */
function candidateOptions(requested: RunOptions, resolved: ResolvedRunOptions, fix: Fix): RunOptions | string {
  const options: RunOptions = {
    ...requested,
    steps: resolved.steps,
    batchSize: resolved.batchSize,
    seed: resolved.seed,
    backend: resolved.backend as RunOptions['backend'],
    findLr: 'never',
    compareFixes: false,
    verifyFixes: false,
    maxEventsPerSecond: 1,
  };
  if (fix.setting) {
    if (fix.setting.key === 'gradientLens.learningRate' && typeof fix.setting.value === 'number') options.learningRate = fix.setting.value;
    else if (fix.setting.key === 'gradientLens.optimizer' && typeof fix.setting.value === 'string') options.optimizer = fix.setting.value as RunOptions['optimizer'];
    else return `the setting ${fix.setting.key} has no run option to try it with`;
  }
  return options;
}

/** Two findings whose candidate runs would be the same: same code, layer and fixes (edits and settings). */
export function sameCandidates(a: Finding, b: Finding): boolean {
  const key = (f: Finding) => JSON.stringify([f.code, f.layer ?? null, f.fixes.map((fix) => [fix.code, fix.edits, fix.setting ?? null])]);
  return key(a) === key(b);
}

/** No finding plans more than four fixes (`candidates` in shared/fixes/index.ts), so no comparison needs more engines. */
export const MOST_CANDIDATES = 4;

/**
 * An engine's start while it waits (process, TF.js) costs about 0.35 s of CPU: engines forked
 * further apart than that while the run trains load one after the other on the core the run
 * leaves idle, instead of all at once taking turns with the run.
 */
const WARM_ENGINE_INTERVAL_MS = 500;

/** Engines forked before a comparison needs them, each waiting (TF.js loaded) for its candidate. */
export class CandidateEngines {
  private readonly waiting: EngineProcess[] = [];
  private forked = 0;
  private lastForkMs = -Infinity;

  constructor(
    private readonly enginePath: string,
    private readonly preloadTfjs: boolean,
    /** How many to fork while the run trains (`warmWhileTraining`). */
    private warmTarget: number = 0,
  ) {}

  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Forks one more engine to wait. */
  add(): void {
    const child = new EngineProcess({ enginePath: this.enginePath, serialization: 'advanced', ...(this.preloadTfjs ? { env: preloadTfjsEnv() } : {}) });
    child.prepare();
    this.waiting.push(child);
    this.forked++;
    this.lastForkMs = performance.now();
  }

  /**
   * Called at each of the run's steps: forks the next engine of `warmTarget` once the last one has
   * had time to load. Until the run has a finding to compare fixes for (`comparisonAhead`) only the
   * first: a healthy model's run forked all four and threw them away (~1.4 s CPU, ~320 MB).
   */
  warmWhileTraining(comparisonAhead = false): void {
    const target = comparisonAhead ? this.warmTarget : Math.min(1, this.warmTarget);
    if (this.forked < target && performance.now() - this.lastForkMs >= WARM_ENGINE_INTERVAL_MS) this.add();
  }

  /** A waiting engine, or a new one. */
  take(): EngineProcess {
    if (this.waiting.length === 0) this.add();
    return this.waiting.shift()!;
  }

  /** Stops the engines nobody took. */
  async dispose(): Promise<void> {
    this.warmTarget = 0;
    await Promise.all(this.waiting.splice(0).map((child) => child.dispose()));
  }
}

const defaultEnginePath = (): string => path.join(__dirname, 'engine.js');

/**
 * The engines a `--compare-fixes` run's candidates will train in, forked while the run trains
 * (one per `warmWhileTraining` interval, up to MOST_CANDIDATES): until the top finding is live
 * the run leaves a core idle, and their start costs the comparison nothing there.
 */
export function warmCandidateEngines(modelPath: string, enginePath: string = defaultEnginePath()): CandidateEngines | undefined {
  // A .py copy may be PyTorch, which must not load TF.js; such engines are forked when needed.
  if (path.extname(modelPath) === '.py' || !existsSync(enginePath)) return undefined;
  return new CandidateEngines(enginePath, true, MOST_CANDIDATES);
}

/**
 * The order to start candidates in so the last one ends soonest: `lanes` engines at once, the
 * first lane busy with the run's own `runLeft` steps first. Costs are in the run's steps. Tried
 * over every order (a finding has at most four fixes); list scheduling: the next candidate goes
 * to the lane that frees first. Ties keep the fixes' own order.
 */
export function candidateOrder(costs: number[], runLeft: number, lanes: number): number[] {
  const makespan = (order: number[]): number => {
    const free = Array.from({ length: Math.max(1, lanes) }, (_, i) => (i === 0 ? runLeft : 0));
    for (const job of order) {
      const lane = free.indexOf(Math.min(...free));
      free[lane] += costs[job];
    }
    return Math.max(...free);
  };
  const identity = costs.map((_, i) => i);
  if (costs.length > 7) return identity.sort((a, b) => costs[b] - costs[a]);
  let best = identity;
  let bestSpan = makespan(identity);
  const permute = (prefix: number[], rest: number[]): void => {
    if (rest.length === 0) {
      const span = makespan(prefix);
      // Only a shorter schedule replaces one found before, so among equals the fixes' own order stays.
      if (span < bestSpan * (1 - 1e-9)) {
        best = prefix;
        bestSpan = span;
      }
      return;
    }
    rest.forEach((job, i) => permute([...prefix, job], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  permute([], identity);
  return best;
}

/**
 * A candidate's training cost in the run's steps: its steps, scaled by how much longer its model
 * text is than the run's. A step's cost on wasm grows with the model's layers and a fix that adds
 * layers (BatchNormalization, a LeakyReLU layer after each conv) adds their config text; a fix
 * that renames an activation leaves it the same.
 */
function estimatedCost(steps: number, runText: string, candidateText: string): number {
  return steps * (candidateText.length / Math.max(1, runText.length));
}

/** A comparison under way: its candidates train while the caller goes on (the run itself may still be training). */
export interface ComparisonRun {
  finding: Finding;
  /** Waits for every candidate and ranks them against the run's own outcome. */
  finish(history: StepStats[], baselineMs: number): Promise<FixComparison>;
  /** Stops every candidate (the comparison is not wanted after all) and waits until they are gone. */
  cancel(): Promise<void>;
}

export interface ComparisonEngines {
  enginePath?: string;
  /** Candidates at once; default the machine's cores. */
  parallel?: number;
  /** Engines forked ahead (`warmCandidateEngines`); the comparison takes them over. */
  engines?: CandidateEngines;
  /** Steps the run still has to train: until `finish`, one core is left to it. */
  runStepsLeft?: number;
}

/**
 * Starts comparing the candidate fixes of `finding`: every fix applied to the file text in
 * memory, each trained in its own engine process with the run's seed, steps, batch size and
 * backend. `analyze` starts it as soon as the run's top finding is known — a live finding,
 * usually halfway through the run. While the run trains, candidates take the cores it leaves
 * idle (one, here); once it has ended (`finish`), every core. They start in the order that
 * ends the last one soonest by their estimated cost (`candidateOrder`), so no core idles
 * through a long candidate's tail. Each engine was forked and loaded TF.js before its start
 * (`CandidateEngines`). The edited text is written next to the model (so weight shards and
 * Python imports resolve) under a hidden name, and removed afterwards.
 */
export function startComparison(
  modelPath: string,
  text: string,
  requested: RunOptions,
  resolved: ResolvedRunOptions,
  finding: Finding,
  log: (message: string) => void,
  signal?: AbortSignal,
  engine: ComparisonEngines = {},
): ComparisonRun {
  const started = Date.now();
  const enginePath = engine.enginePath ?? defaultEnginePath();
  if (!existsSync(enginePath)) throw new Error(`--compare-fixes needs the engine bundle at ${enginePath}`);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const fixCount = finding.fixes.length;
  const parallel = Math.max(1, Math.min(engine.parallel ?? cores, fixCount));
  let runTraining = (engine.runStepsLeft ?? 0) > 0;
  // The run keeps a core while it trains: the candidates get the others.
  const parallelWhileTraining = Math.min(parallel, Math.max(0, (engine.parallel ?? cores) - 1));
  const ext = path.extname(modelPath);
  const engines = engine.engines ?? new CandidateEngines(enginePath, ext !== '.py');
  const results: FixCandidateResult[] = finding.fixes.map((fix) => ({ fixCode: fix.code, title: fix.title, rank: 0, remaining: [] }));
  const texts = finding.fixes.map((fix) => (fix.edits.length > 0 ? applyEdits(text, fix.edits) : text));
  const queue = candidateOrder(
    texts.map((edited) => estimatedCost(resolved.steps, text, edited)),
    runTraining && parallelWhileTraining < parallel ? (engine.runStepsLeft ?? 0) : 0,
    parallel,
  );
  log(`comparing ${fixCount} fixes for ${finding.code}, ${parallel} at once${runTraining ? ` (${parallelWhileTraining} while the run trains)` : ''}, in the order ${queue.map((i) => finding.fixes[i].code).join(', ')}`);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort);
  const running = new Set<EngineProcess>();

  const runOne = async (index: number, options: RunOptions, child: EngineProcess): Promise<void> => {
    const fix = finding.fixes[index];
    const result = results[index];
    // A Python copy needs a valid module name (the trainer may import it as a module of its own).
    const hidden = ext === '.py' ? `_gradient_lens_compare_${process.pid}_${index}_${path.basename(modelPath)}` : `.${path.basename(modelPath, ext)}.gradient-lens-compare-${process.pid}-${index}${ext}`;
    const editedPath = path.join(path.dirname(modelPath), hidden);
    const abort = () => void child.cancel();
    stop.signal.addEventListener('abort', abort);
    try {
      writeFileSync(editedPath, texts[index]);
      const outcome = await child.start(editedPath, options);
      if (outcome.kind === 'done') {
        result.outcome = outcomeOfReport(outcome.report);
        result.remaining = [...new Set(outcome.report.findings.filter((f) => f.severity !== 'info').map((f) => f.code as FindingCode))];
        log(`${fix.code}: final loss ${result.outcome.finalLoss.toPrecision(3)}`);
      } else {
        result.error = outcome.kind === 'error' ? outcome.error.message.split(editedPath).join(modelPath) : 'cancelled';
      }
    } catch (error) {
      result.error = (error as Error).message.split(editedPath).join(modelPath);
    } finally {
      stop.signal.removeEventListener('abort', abort);
      await child.dispose();
      running.delete(child);
      try {
        unlinkSync(editedPath);
      } catch {
        // Never written, or already gone.
      }
    }
  };

  // Starts candidates in `queue` order while fewer than the cores allow are training.
  let active = 0;
  let settle: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (settle = resolve));
  const pump = (): void => {
    if (stop.signal.aborted) queue.length = 0;
    while (queue.length > 0 && active < (runTraining ? parallelWhileTraining : parallel)) {
      const index = queue.shift()!;
      const options = candidateOptions(requested, resolved, finding.fixes[index]);
      if (typeof options === 'string') {
        results[index].error = options;
        continue;
      }
      const child = engines.take();
      running.add(child);
      active++;
      void runOne(index, options, child).finally(() => {
        active--;
        pump();
      });
    }
    // Each candidate still queued has an engine loading while others train; engines nobody
    // will take are stopped at once (their memory is the candidates').
    while (engines.waitingCount < queue.length) engines.add();
    if (queue.length === 0 && engines.waitingCount > 0) void engines.dispose();
    if (queue.length === 0 && active === 0) settle();
  };
  pump();
  const finished = done.then(() => engines.dispose()).finally(() => signal?.removeEventListener('abort', onAbort));
  const runEnded = (): void => {
    if (!runTraining) return;
    runTraining = false;
    pump();
  };

  return {
    finding,
    async finish(history, baselineMs) {
      runEnded();
      await finished;
      const ranked = results.filter((r) => r.outcome).sort((a, b) => compareOutcomes(a.outcome!, b.outcome!));
      ranked.forEach((r, i) => (r.rank = i + 1));
      return {
        findingCode: finding.code,
        ...(finding.layer ? { layer: finding.layer } : {}),
        baseline: outcomeOfHistory(history, baselineMs),
        candidates: [...ranked, ...results.filter((r) => !r.outcome)],
        parallel,
        durationMs: Date.now() - started,
      };
    },
    async cancel() {
      stop.abort();
      runEnded();
      pump();
      await Promise.all([...running].map((child) => child.dispose()));
      await finished;
    },
  };
}

/** `--compare-fixes` after the run: the top finding's candidates (see `startComparison`), ranked. */
export async function compareFixes(
  modelPath: string,
  text: string,
  requested: RunOptions,
  resolved: ResolvedRunOptions,
  history: StepStats[],
  findings: Finding[],
  log: (message: string) => void,
  signal?: AbortSignal,
  engine: ComparisonEngines & { baselineMs?: number } = {},
): Promise<FixComparison | undefined> {
  const finding = topFinding(findings);
  if (!finding) return undefined;
  return startComparison(modelPath, text, requested, resolved, finding, log, signal, engine).finish(history, engine.baselineMs ?? 0);
}
