import { Command, CommanderError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BACKENDS, OPTIMIZERS, REPORT_FORMATS, type BackendChoice, type OptimizerName, type ReportFormat } from '../shared/codes';
import type { EngineToHostMessage } from '../shared/engineProtocol';
import type { Report } from '../shared/report';
import type { RunOptions } from '../shared/runOptions';
import { UsageError } from './errors';
import { formatReport } from './report/index';
import { EngineProcess } from './runner';
import { describeFailure } from './train/failure';

// The CLI runs the analysis in the engine child process, as the extension does: the same
// memory limits apply (resources.ts), and an engine the system kills (out of memory) is one
// error line here instead of the CLI dying without a word. It loads no TF.js itself.

const EXIT_CLEAN = 0;
const EXIT_FINDINGS = 1;
const EXIT_BAD_INPUT = 2;
const EXIT_CANCELLED = 130;
/** Not in the CLI contract's 0/1/2: a failure of the tool itself, not of the model or the flags. */
const EXIT_INTERNAL = 3;
/**
 * Ctrl+C asks the engine to end after the current step and report; a step on the plain cpu
 * backend can take seconds, so the engine gets this long before it is stopped by signal. A
 * second Ctrl+C stops it at once.
 */
const CANCEL_GRACE_MS = 30_000;

/** The engine's optimizer names are their own spellings (train/optimizers.ts), lower-cased. */
function parseOptimizerName(name: string): OptimizerName | undefined {
  const lower = name.trim().toLowerCase();
  return OPTIMIZERS.find((known) => known === lower);
}

/** A run that failed in the engine: its one-line message and the exit code it maps to. */
class EngineFailure extends Error {
  constructor(readonly failure: ReturnType<typeof describeFailure>) {
    super(failure.message);
  }
}

interface AnalyzeFlags {
  steps?: string;
  batchSize?: string;
  learningRate?: string;
  optimizer?: string;
  loss?: string;
  data?: string;
  seed?: string;
  backend: string;
  format: string;
  out?: string;
  verifyFixes?: boolean;
  findLr?: boolean;
  compareFixes?: boolean;
  entry?: string;
  inputShape?: string;
  python?: string;
  weights?: string;
  writeFixed?: boolean;
  source?: string;
}

/** `--input-shape C,H,W` (PyTorch's channels-first order); a flat input may give one number. */
function parseInputShape(text: string): number[] {
  const parts = text.split(/[,x×]/).map((part) => part.trim());
  const shape = parts.map(Number);
  if (parts.length > 3 || parts.some((part) => !/^\d+$/.test(part)) || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new UsageError(`--input-shape must be C,H,W with positive integers (e.g. 1,28,28), got "${text}"`);
  }
  return shape;
}

function integer(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[-+]?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${flag} must be an integer${min > 0 ? ` ≥ ${min}` : ''}, got "${text}"`);
  }
  return value;
}

function runOptionsFrom(flags: AnalyzeFlags): RunOptions {
  const learningRate = flags.learningRate === undefined ? undefined : Number(flags.learningRate);
  if (learningRate !== undefined && !(Number.isFinite(learningRate) && learningRate > 0)) {
    throw new UsageError(`--learning-rate must be a positive number, got "${flags.learningRate}"`);
  }
  if (flags.weights !== undefined && flags.weights !== 'trained' && flags.weights !== 'init') {
    throw new UsageError(`--weights must be trained or init, got "${flags.weights}"`);
  }
  const optimizer = flags.optimizer === undefined ? undefined : parseOptimizerName(flags.optimizer);
  if (flags.optimizer !== undefined && !optimizer) throw new UsageError(`unknown optimizer "${flags.optimizer}" (known: sgd, momentum, adam, rmsprop, adagrad, adadelta, adamax)`);
  return {
    steps: integer('--steps', flags.steps, 1),
    batchSize: integer('--batch-size', flags.batchSize, 1),
    learningRate,
    optimizer,
    loss: flags.loss,
    data: flags.data,
    seed: integer('--seed', flags.seed, 0),
    backend: flags.backend as BackendChoice,
    verifyFixes: flags.verifyFixes,
    ...(flags.findLr ? { findLr: 'always' as const } : {}),
    ...(flags.compareFixes ? { compareFixes: true } : {}),
    ...(flags.entry !== undefined ? { entry: flags.entry } : {}),
    ...(flags.inputShape !== undefined ? { inputShape: parseInputShape(flags.inputShape) } : {}),
    ...(flags.python !== undefined ? { python: flags.python } : {}),
    ...(flags.weights !== undefined ? { weights: flags.weights as 'trained' | 'init' } : {}),
    ...(flags.source !== undefined ? { kerasSource: flags.source } : {}),
  };
}

/** True when `done` of `total` enters a new 1/`parts` of the way (for plain progress lines on a pipe). */
function fractionCrossings(parts: number): (done: number, total: number) => boolean {
  let last = -1;
  return (done, total) => {
    const part = Math.floor((parts * done) / total);
    if (part <= last) return false;
    last = part;
    return true;
  };
}

/** A progress bar on a terminal; on a pipe or in CI, a plain line every 10 % (loading: every 25 %). */
function progressReporter(total: () => number): (msg: EngineToHostMessage) => void {
  const interactive = process.stderr.isTTY === true;
  const bar = interactive
    ? new SingleBar({ stream: process.stderr, format: 'training {bar} {value}/{total} steps | loss {loss}', hideCursor: true, clearOnComplete: true })
    : undefined;
  const newTenth = fractionCrossings(10);
  const newLoadingQuarter = fractionCrossings(4);
  let stepsDone = 0;
  return (msg) => {
    if (msg.type === 'loading') {
      // Before training: decoding a folder of images can take seconds.
      if (interactive) {
        process.stderr.write(`\r${msg.what} ${msg.done}/${msg.total}${msg.done === msg.total ? '\n' : ''}`);
      } else if (newLoadingQuarter(msg.done, msg.total)) {
        process.stderr.write(`${msg.what} ${msg.done}/${msg.total}\n`);
      }
    } else if (msg.type === 'ready') {
      bar?.start(total(), 0, { loss: '-' });
      if (!bar) process.stderr.write(`analysing ${msg.modelPath} on ${msg.backend}: ${total()} steps\n`);
    } else if (msg.type === 'step') {
      const last = msg.steps[msg.steps.length - 1];
      const done = last.step + 1;
      stepsDone = done;
      bar?.update(done, { loss: last.loss.toPrecision(4) });
      if (!bar && newTenth(done, total())) process.stderr.write(`step ${done}/${total()} loss ${last.loss.toPrecision(4)}\n`);
    } else if (msg.type === 'finding' && stepsDone < total() && msg.finding.severity !== 'info') {
      // Found while training: said now (the report, with its fixes, follows at the end).
      const f = msg.finding;
      const where = [f.layer, `after ${stepsDone} steps`].filter(Boolean).join(', ');
      process.stderr.write(`${interactive ? '\r\x1b[2K' : ''}found ${f.severity} ${f.code} (${where}): ${f.message}\n`);
    } else if (msg.type === 'done' || msg.type === 'error') {
      bar?.stop();
    }
  };
}

async function runAnalyze(modelFile: string, flags: AnalyzeFlags): Promise<number> {
  const options = runOptionsFrom(flags);
  let steps = options.steps ?? 0;
  const progress = progressReporter(() => steps);
  const engine = new EngineProcess({ cancelGraceMs: CANCEL_GRACE_MS, serialization: 'advanced' });
  engine.onMessage((msg) => {
    if (msg.type === 'ready') steps = msg.options.steps;
    if (msg.type === 'log' && process.env.GRADIENT_LENS_DEBUG) process.stderr.write(`engine: ${msg.message}\n`);
    progress(msg);
  });
  // The terminal sends Ctrl+C to the engine too; it ignores it and waits for `cancel`.
  const onInterrupt = (): void => {
    if (engine.cancelling) void engine.dispose();
    else void engine.cancel();
  };
  process.on('SIGINT', onInterrupt);
  const result = await engine.start(modelFile, options).finally(() => process.off('SIGINT', onInterrupt));
  if (result.kind === 'error') throw new EngineFailure(result.error);
  if (result.kind === 'killed') {
    process.stderr.write(`gradient-lens: ${modelFile}: stopped before the engine could report\n`);
    return EXIT_CANCELLED;
  }
  const report = result.report;
  if (flags.writeFixed) writeFixedCopy(modelFile, report);
  const text = formatReport(report, flags.format as ReportFormat);
  if (flags.out) writeFileSync(flags.out, text.endsWith('\n') ? text : `${text}\n`);
  else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  if (report.run.cancelled) return EXIT_CANCELLED;
  return report.findings.some((finding) => finding.severity === 'error') ? EXIT_FINDINGS : EXIT_CLEAN;
}

/** `--write-fixed`: the preferred fix of the first finding that has one, as `<name>.fixed.keras` beside the file. */
function writeFixedCopy(modelFile: string, report: Report): void {
  const fix = report.findings.map((finding) => finding.fixes.find((f) => f.edits.length > 0)).find((f) => f !== undefined);
  if (!fix) {
    process.stderr.write(`gradient-lens: ${modelFile}: no fix to write (no finding has one)\n`);
    return;
  }
  // A copy that cannot be written costs the user the copy, not the report.
  try {
    // Loaded here: it reads .keras files with TF.js's help, which would add ~0.4 s to every CLI start.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { writeFixedKerasCopy } = require('./model/fixedCopy') as typeof import('./model/fixedCopy');
    const written = writeFixedKerasCopy(modelFile, fix);
    process.stderr.write(`gradient-lens: wrote ${written} (${fix.title}); ${path.basename(modelFile)} is unchanged\n`);
  } catch (error) {
    process.stderr.write(`gradient-lens: ${(error as Error).message}\n`);
  }
}

interface ReportFlags {
  format: string;
  out?: string;
  follow?: boolean;
}

/** `report <run.jsonl>`: a recorded real run (gradient_lens.watch()) judged by the same rules; `--follow` prints findings as the file grows. */
async function runReport(runFile: string, flags: ReportFlags): Promise<number> {
  const controller = new AbortController();
  // Ctrl+C while following: stop waiting for the run and report what it wrote so far.
  const onInterrupt = (): void => controller.abort();
  if (flags.follow) process.on('SIGINT', onInterrupt);
  // Loaded for `report` only: `analyze` starts its engine sooner without it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { analyzeRunFile } = require('./watch/analyzeRun') as typeof import('./watch/analyzeRun');
  const report = await analyzeRunFile(runFile, (msg) => {
    if (!flags.follow) return;
    if (msg.type === 'ready') process.stderr.write(`following ${runFile}: ${msg.layers.filter((l) => l.instrumented).length} layers, ${msg.backend}\n`);
    if (msg.type === 'finding') {
      const f = msg.finding;
      const where = [f.layer, f.step === undefined ? undefined : `step ${f.step}`].filter(Boolean).join(', ');
      process.stderr.write(`${f.severity} ${f.code}${where ? ` (${where})` : ''}: ${f.message}\n`);
    }
  }, { follow: flags.follow, signal: controller.signal }).finally(() => process.off('SIGINT', onInterrupt));
  const text = formatReport(report, flags.format as ReportFormat);
  if (flags.out) writeFileSync(flags.out, text.endsWith('\n') ? text : `${text}\n`);
  else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return report.findings.some((finding) => finding.severity === 'error') ? EXIT_FINDINGS : EXIT_CLEAN;
}

function program(): Command {
  const cli = new Command('gradient-lens')
    .description('Find vanishing and exploding gradients in a CNN model file by training it briefly with instrumentation.')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.split('\n')[0] + '\n') });
  cli
    .command('analyze')
    .description('train the model for a short instrumented run and report per-layer gradient problems')
    .argument('<model-file>', 'Keras 2 / Keras 3 JSON, TF.js model.json, a Keras .keras or .h5 file, a .py that builds a Keras model, or a PyTorch .py defining an nn.Module')
    .option('--steps <n>', 'training steps (default 100)')
    .option('--batch-size <n>', 'examples per step (default 32)')
    .option('--learning-rate <x>', 'learning rate (default: the file\'s, else the optimizer\'s Keras default)')
    .option('--optimizer <name>', 'sgd | momentum | adam | rmsprop | adagrad | adadelta | adamax (default: the file\'s, else adam)')
    .option('--loss <name>', 'categorical_crossentropy | sparse_categorical_crossentropy | mse | binary_crossentropy')
    .option('--data <spec>', 'synthetic | fashion-mnist | PATH: IDX files, a .npy pair, or a folder of class subfolders of PNG/JPEG images (default: Fashion-MNIST for 28×28×1 inputs with 10 classes, else synthetic)')
    .option('--seed <n>', 'seed for weights, batches and data (default 42)')
    .addOption(new Option('--backend <name>', 'TF.js backend').choices(BACKENDS).default('auto'))
    .addOption(new Option('--format <name>', 'report format').choices(REPORT_FORMATS).default('text'))
    .option('--out <file>', 'write the report to a file instead of stdout')
    .option('--verify-fixes', 'apply each finding\'s best fix in memory, rerun, and report before/after')
    .option('--find-lr', 'also run the learning-rate range test (1e-6 → 10 over 88 steps from the same initial weights) and report its curve and suggested rate; it runs by itself when the rate is suspected')
    .option('--compare-fixes', 'apply every candidate fix of the top finding in memory, rerun each with the same seed and steps (one process per core), and rank them by outcome')
    .option('--source <file.py>', '.keras/.h5 files: the .py that builds the same model; its layers.X(...) calls get the markers (run by your Keras, see --python)')
    .option('--write-fixed', '.keras files: write the preferred fix of the first finding to <name>.fixed.keras beside the file (never over it)')
    .option('--weights <which>', 'Keras .keras/.h5/.py files: trained (start from the file\'s weights, the default) | init (fresh initialisation from the config)')
    .option('--entry <name>', 'PyTorch: the nn.Module subclass (or zero-argument function returning one) to train; Keras .py: the module-level model or zero-argument function returning one')
    .option('--input-shape <C,H,W>', 'PyTorch: input shape without the batch dimension (default: the file\'s INPUT_SHAPE, else from the first Conv2d)')
    .option('--python <path>', 'PyTorch / Keras .py: the Python interpreter with torch or Keras 3 (default python3, then /usr/bin/python3)')
    .exitOverride()
    .action(async (modelFile: string, flags: AnalyzeFlags) => {
      process.exitCode = await runAnalyze(modelFile, flags).catch((error: unknown) => {
        const failure = error instanceof EngineFailure ? error.failure : describeFailure(error, modelFile);
        const hint = failure.code === 'bad-input' || process.env.GRADIENT_LENS_DEBUG ? '' : ' (run with GRADIENT_LENS_DEBUG=1 for details)';
        process.stderr.write(`gradient-lens: ${failure.message}${hint}\n`);
        if (process.env.GRADIENT_LENS_DEBUG) process.stderr.write(`${failure.detail ?? ''}\n`);
        return failure.code === 'bad-input' ? EXIT_BAD_INPUT : EXIT_INTERNAL;
      });
    });
  cli
    .command('report')
    .description('judge a recorded real training run (a run file of gradient_lens.watch()) with the same rules and report')
    .argument('<run-file>', 'a .gradient-lens/runs/*.jsonl file')
    .addOption(new Option('--format <name>', 'report format').choices(REPORT_FORMATS).default('text'))
    .option('--out <file>', 'write the report to a file instead of stdout')
    .option('--follow', 'keep reading while the run writes, printing findings as they appear (to stderr), until its close record or Ctrl+C')
    .exitOverride()
    .action(async (runFile: string, flags: ReportFlags) => {
      process.exitCode = await runReport(runFile, flags).catch((error: unknown) => {
        const failure = describeFailure(error, runFile);
        process.stderr.write(`gradient-lens: ${failure.message}\n`);
        if (process.env.GRADIENT_LENS_DEBUG) process.stderr.write(`${failure.detail ?? ''}\n`);
        return failure.code === 'bad-input' ? EXIT_BAD_INPUT : EXIT_INTERNAL;
      });
    });
  return cli;
}

async function main(): Promise<void> {
  try {
    await program().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      const helpShown = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help';
      process.exitCode = helpShown ? EXIT_CLEAN : EXIT_BAD_INPUT;
      return;
    }
    throw error;
  }
}

void main();
