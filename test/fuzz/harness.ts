import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BackendChoice } from '../../src/shared/codes';
import type { CaseRequest, ChildMessage } from './child';
import { loadPythonCorpus } from './pythonMutate';
import { loadCorpus, makeCase, MUTATION_KINDS, type FuzzCase, type MutationKind } from './mutate';
import { ACCEPTED, type Outcome } from './outcome';

/**
 * Runs mutated model files through the engine in worker processes, under a watchdog: no
 * result within `timeoutMs` is a hang, a worker that dies is a crash, a worker over
 * `memoryLimitMb` resident is a huge allocation attempted instead of refused. The worker is
 * killed and replaced, and the case saved under `outDir` to replay.
 */

export const repoRoot = path.resolve(__dirname, '../../..');

export interface FuzzOptions {
  count: number;
  seed: number;
  /** Index of the first case (cases are independent: `--start 4711 --count 1` replays one). */
  start?: number;
  only?: MutationKind;
  backend?: BackendChoice;
  workers?: number;
  timeoutMs?: number;
  memoryLimitMb?: number;
  /** Share of the cases that mutate a PyTorch sample (each starts a real trainer, ~2 s); default 0.02. */
  pythonShare?: number;
  /** Where failing inputs are saved; default test-output/fuzz. */
  outDir?: string;
  onResult?: (done: number, total: number, result: CaseResult) => void;
}

export interface CaseResult {
  case: FuzzCase;
  outcome: Outcome;
  ms: number;
  tensorsLeaked: number;
  savedTo?: string;
}

export interface FuzzSummary {
  count: number;
  seed: number;
  ms: number;
  /** Outcome label ('trained', 'input error', 'hang', …) → count. */
  outcomes: Record<string, number>;
  /** Mutation kind → outcome label → count. */
  byKind: Record<string, Record<string, number>>;
  /** InputError problem classes → count. */
  problemClasses: Record<string, number>;
  failures: CaseResult[];
  /** Cases after which the engine held more tensors than before (not a failure: reported). */
  leakyCases: number;
  slowest: Array<{ index: number; kind: string; ms: number }>;
}

export function outcomeLabel(outcome: Outcome): string {
  return outcome.kind.replace('-', ' ');
}

const WORKER_SCRIPT = path.join(__dirname, 'child.js');
const STARTUP_TIMEOUT_MS = 60_000;

/** One worker process, restarted after each hang, crash or memory kill. */
export class Worker {
  private child?: ChildProcess;
  private ready?: Promise<void>;
  private stderrTail = '';
  private rssTimer?: NodeJS.Timeout;

  constructor(
    private readonly backend: BackendChoice = 'wasm',
    private readonly timeoutMs: number = 10_000,
    private readonly memoryLimitMb: number = 3072,
  ) {}

  private start(): Promise<void> {
    this.stderrTail = '';
    const child = fork(WORKER_SCRIPT, [this.backend], {
      cwd: repoRoot,
      silent: true,
      // A heap of 2 GB is ample for any model file under the 100 MB limit; beyond it V8 aborts, which counts as a crash.
      execArgv: ['--max-old-space-size=2048'],
    });
    child.stdout?.resume();
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4000);
    });
    this.child = child;
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fuzz worker did not start within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
      child.once('message', (m: ChildMessage) => {
        clearTimeout(timer);
        if (m.type === 'ready') resolve();
        else reject(new Error(`fuzz worker sent ${m.type} before ready`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`fuzz worker exited during start (${signal ?? code}): ${this.stderrTail}`));
      });
    });
    return this.ready;
  }

  async run(request: CaseRequest): Promise<{ outcome: Outcome; ms: number; tensorsLeaked: number }> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) await this.start();
    else await this.ready;
    const child = this.child!;
    const started = performance.now();
    return new Promise((resolve) => {
      let settled = false;
      const finish = (outcome: Outcome, tensorsLeaked = 0, kill = false): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(this.rssTimer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (kill) {
          child.kill('SIGKILL');
          this.child = undefined;
        }
        resolve({ outcome, ms: performance.now() - started, tensorsLeaked });
      };
      const onMessage = (m: ChildMessage): void => {
        if (m.type === 'result' && m.index === request.index) finish(m.outcome, m.tensorsLeaked);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.child = undefined;
        finish({ kind: 'crash', message: `worker died (${signal ?? `exit code ${code}`}): ${lastLines(this.stderrTail)}` });
      };
      const timer = setTimeout(() => finish({ kind: 'hang', message: `no result within ${this.timeoutMs} ms` }, 0, true), this.timeoutMs);
      this.rssTimer = setInterval(() => {
        const rssMb = residentMb(child.pid);
        if (rssMb !== undefined && rssMb > this.memoryLimitMb) {
          finish({ kind: 'memory', message: `worker grew to ${rssMb} MB resident (limit ${this.memoryLimitMb} MB)` }, 0, true);
        }
      }, 100);
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send(request);
    });
  }

  stop(): void {
    clearInterval(this.rssTimer);
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }
}

function residentMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-6).join(' | ');
}

function writeCase(folder: string, fuzzCase: FuzzCase): void {
  mkdirSync(folder, { recursive: true });
  for (const [name, content] of Object.entries(fuzzCase.files)) {
    const file = path.join(folder, name);
    if (content === 'folder') {
      mkdirSync(file, { recursive: true });
    } else if (typeof content === 'string') {
      // A sparse file: its size is what matters to the loader, and it costs no disk.
      const fd = openSync(file, 'w');
      ftruncateSync(fd, Number(content.slice('sparse:'.length)));
      closeSync(fd);
    } else {
      writeFileSync(file, content);
    }
  }
}

function saveFailure(outDir: string, folder: string, result: Omit<CaseResult, 'savedTo'>, options: FuzzOptions): string {
  const target = path.join(outDir, `case-${result.case.index}-${result.case.kind}-${result.outcome.kind}`);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  for (const name of Object.keys(result.case.files)) {
    // Sparse shards are recreated from case.json on replay rather than copied.
    if (typeof result.case.files[name] === 'string' && result.case.files[name] !== 'folder') continue;
    cpSync(path.join(folder, name), path.join(target, name), { recursive: true });
  }
  const meta = {
    seed: options.seed,
    index: result.case.index,
    kind: result.case.kind,
    from: result.case.seed,
    detail: result.case.detail,
    model: result.case.model,
    sparseFiles: Object.fromEntries(Object.entries(result.case.files).filter(([, v]) => typeof v === 'string' && v !== 'folder')),
    outcome: result.outcome,
    replay: `node out/test/fuzz/main.js --replay ${path.relative(repoRoot, target)}`,
    regenerate: `node out/test/fuzz/main.js --seed ${options.seed} --start ${result.case.index} --count 1`,
  };
  writeFileSync(path.join(target, 'case.json'), JSON.stringify(meta, null, 2));
  return target;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const started = performance.now();
  const corpus = loadCorpus(repoRoot);
  const python = { corpus: loadPythonCorpus(repoRoot), share: options.pythonShare ?? 0.02 };
  const outDir = options.outDir ?? path.join(repoRoot, 'test-output/fuzz');
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'gradient-lens-fuzz-'));
  const workers = Array.from({ length: Math.max(1, options.workers ?? 1) }, () => new Worker(options.backend ?? 'wasm', options.timeoutMs ?? 10_000, options.memoryLimitMb ?? 3072));
  const first = options.start ?? 0;
  const summary: FuzzSummary = { count: 0, seed: options.seed, ms: 0, outcomes: {}, byKind: {}, problemClasses: {}, failures: [], leakyCases: 0, slowest: [] };
  for (const kind of MUTATION_KINDS) summary.byKind[kind] = {};
  let next = first;
  const end = first + options.count;

  const work = async (worker: Worker): Promise<void> => {
    while (next < end) {
      const index = next++;
      const fuzzCase = makeCase(corpus, options.seed, index, options.only, python);
      const folder = path.join(scratch, String(index));
      writeCase(folder, fuzzCase);
      const modelPath = path.join(folder, fuzzCase.model);
      const { outcome, ms, tensorsLeaked } = await worker.run({ index, modelPath, backend: options.backend ?? 'wasm' });
      const result: CaseResult = { case: fuzzCase, outcome, ms, tensorsLeaked };
      if (!ACCEPTED.has(outcome.kind)) {
        result.savedTo = saveFailure(outDir, folder, result, options);
        summary.failures.push(result);
      }
      rmSync(folder, { recursive: true, force: true });
      record(summary, result);
      options.onResult?.(summary.count, options.count, result);
    }
  };
  try {
    await Promise.all(workers.map(work));
  } finally {
    for (const worker of workers) worker.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  summary.ms = performance.now() - started;
  return summary;
}

function record(summary: FuzzSummary, result: CaseResult): void {
  const label = outcomeLabel(result.outcome);
  summary.count++;
  summary.outcomes[label] = (summary.outcomes[label] ?? 0) + 1;
  const byKind = summary.byKind[result.case.kind];
  byKind[label] = (byKind[label] ?? 0) + 1;
  if (result.outcome.kind === 'input-error') {
    summary.problemClasses[result.outcome.problemClass] = (summary.problemClasses[result.outcome.problemClass] ?? 0) + 1;
  }
  if (result.tensorsLeaked > 0) summary.leakyCases++;
  summary.slowest.push({ index: result.case.index, kind: result.case.kind, ms: Math.round(result.ms) });
  summary.slowest.sort((a, b) => b.ms - a.ms);
  summary.slowest.length = Math.min(summary.slowest.length, 5);
}

export function formatSummary(summary: FuzzSummary): string {
  const lines: string[] = [];
  const seconds = (summary.ms / 1000).toFixed(1);
  lines.push(`gradient-lens fuzz: ${summary.count} mutations, seed ${summary.seed}, ${seconds} s (${(summary.ms / Math.max(1, summary.count)).toFixed(0)} ms each)`);
  lines.push('outcomes:');
  for (const [label, n] of Object.entries(summary.outcomes).sort((a, b) => b[1] - a[1])) lines.push(`  ${label.padEnd(16)} ${n}`);
  lines.push('by mutation kind:');
  for (const [kind, outcomes] of Object.entries(summary.byKind)) {
    const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
    if (total === 0) continue;
    const parts = Object.entries(outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([label, n]) => `${label} ${n}`);
    lines.push(`  ${kind.padEnd(21)} ${String(total).padStart(5)}: ${parts.join(', ')}`);
  }
  lines.push('input errors by problem:');
  for (const [problem, n] of Object.entries(summary.problemClasses).sort((a, b) => b[1] - a[1])) lines.push(`  ${String(n).padStart(5)}  ${problem}`);
  lines.push(`slowest: ${summary.slowest.map((s) => `#${s.index} ${s.kind} ${s.ms} ms`).join(', ')}`);
  if (summary.leakyCases > 0) lines.push(`cases that left tensors behind: ${summary.leakyCases}`);
  const failed = summary.failures.length;
  lines.push(failed === 0 ? 'failures: none (no crash, hang, memory blow-up, wrong exception or unclear message)' : `FAILURES: ${failed}`);
  for (const f of summary.failures.slice(0, 40)) {
    const o = f.outcome;
    const what = 'name' in o ? `${o.name}: ${o.message}` : 'why' in o ? `${o.why}: ${o.message}` : 'message' in o ? o.message : '';
    lines.push(`  #${f.case.index} ${f.case.kind} on ${f.case.seed} (${f.case.detail}) → ${o.kind}: ${what.split('\n')[0].slice(0, 300)}`);
    if (f.savedTo) lines.push(`      saved to ${path.relative(repoRoot, f.savedTo)}`);
  }
  return lines.join('\n');
}
