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

/** Set in a candidate engine's environment: it loads TF.js before its start arrives (childMain.ts). */
export const PRELOAD_TFJS_ENV = 'GRADIENT_LENS_PRELOAD_TFJS';

/** A comparison under way: its candidates train while the caller goes on (the run itself may still be training). */
export interface ComparisonRun {
  finding: Finding;
  /** Waits for every candidate and ranks them against the run's own outcome. */
  finish(history: StepStats[], baselineMs: number): Promise<FixComparison>;
  /** Stops every candidate (the comparison is not wanted after all) and waits until they are gone. */
  cancel(): Promise<void>;
}

/**
 * Starts comparing the candidate fixes of `finding`: every fix applied to the file text in
 * memory, each trained in its own engine process with the run's seed, steps, batch size and
 * backend, as many at once as there are cores (the machine's two, here). `analyze` starts it
 * as soon as the run's top finding is known — a live finding, usually halfway through the run —
 * so the candidates use the core the run leaves idle. Each worker forks its next engine while
 * its current candidate trains, and that engine loads TF.js before its start arrives, so a
 * candidate after the first pays no process start. The edited text is written next to the
 * model (so weight shards and Python imports resolve) under a hidden name, and removed afterwards.
 */
export function startComparison(
  modelPath: string,
  text: string,
  requested: RunOptions,
  resolved: ResolvedRunOptions,
  finding: Finding,
  log: (message: string) => void,
  signal?: AbortSignal,
  engine: { enginePath?: string; parallel?: number } = {},
): ComparisonRun {
  const started = Date.now();
  const enginePath = engine.enginePath ?? path.join(__dirname, 'engine.js');
  if (!existsSync(enginePath)) throw new Error(`--compare-fixes needs the engine bundle at ${enginePath}`);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const parallel = Math.max(1, Math.min(engine.parallel ?? cores, finding.fixes.length));
  const ext = path.extname(modelPath);
  const preload = ext !== '.py';
  const results: FixCandidateResult[] = finding.fixes.map((fix) => ({ fixCode: fix.code, title: fix.title, rank: 0, remaining: [] }));
  log(`comparing ${finding.fixes.length} fixes for ${finding.code}, ${parallel} at once`);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort);
  const running = new Set<EngineProcess>();
  const newEngine = (): EngineProcess => {
    const child = new EngineProcess({ enginePath, serialization: 'advanced', ...(preload ? { env: { ...process.env, [PRELOAD_TFJS_ENV]: '1' } } : {}) });
    child.prepare();
    running.add(child);
    return child;
  };

  const runOne = async (index: number, child: EngineProcess): Promise<void> => {
    const fix = finding.fixes[index];
    const result = results[index];
    const options = candidateOptions(requested, resolved, fix);
    if (typeof options === 'string') {
      result.error = options;
      return;
    }
    // A Python copy needs a valid module name (the trainer may import it as a module of its own).
    const hidden = ext === '.py' ? `_gradient_lens_compare_${process.pid}_${index}_${path.basename(modelPath)}` : `.${path.basename(modelPath, ext)}.gradient-lens-compare-${process.pid}-${index}${ext}`;
    const editedPath = path.join(path.dirname(modelPath), hidden);
    const abort = () => void child.cancel();
    stop.signal.addEventListener('abort', abort);
    try {
      writeFileSync(editedPath, fix.edits.length > 0 ? applyEdits(text, fix.edits) : text);
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

  // A small pool: each worker takes the next candidate until none is left, its next engine forked ahead.
  let next = 0;
  const done = Promise.all(
    Array.from({ length: parallel }, async () => {
      let child = next < finding.fixes.length ? newEngine() : undefined;
      while (child && next < finding.fixes.length && !stop.signal.aborted) {
        const index = next++;
        const current = child;
        child = next < finding.fixes.length ? newEngine() : undefined;
        await runOne(index, current);
      }
      if (child) {
        await child.dispose();
        running.delete(child);
      }
    }),
  ).finally(() => signal?.removeEventListener('abort', onAbort));

  return {
    finding,
    async finish(history, baselineMs) {
      await done;
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
      await Promise.all([...running].map((child) => child.dispose()));
      await done;
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
  engine: { enginePath?: string; parallel?: number; baselineMs?: number } = {},
): Promise<FixComparison | undefined> {
  const finding = topFinding(findings);
  if (!finding) return undefined;
  return startComparison(modelPath, text, requested, resolved, finding, log, signal, engine).finish(history, engine.baselineMs ?? 0);
}
