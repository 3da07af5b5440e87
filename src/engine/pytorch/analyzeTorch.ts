import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ENGINE_PROTOCOL_VERSION } from '../../shared/engineProtocol';
import type { FindingCode } from '../../shared/codes';
import type { TorchFixContext } from '../../shared/diagnosis';
import type { Finding, FixVerification } from '../../shared/findings';
import type { LayerInfo } from '../../shared/model';
import { TORCH_PROTOCOL_VERSION, type TorchError, type TorchReady, type TorchStartRequest } from '../../shared/pytorchProtocol';
import type { Report } from '../../shared/report';
import { DEFAULT_RUN_OPTIONS, type ResolvedRunOptions, type RunOptions } from '../../shared/runOptions';
import type { StepStats } from '../../shared/stats';
import { applyEdits, planFixes } from '../../shared/fixes/index';
import { createDiagnoser } from '../../shared/rules/index';
import type { EngineSink } from '../analyze';
import { shippedSubsetFolder } from '../data/fashionMnist';
import { InputError } from '../errors';
import { layerSummaryFrom } from '../report/layerSummary';
import { median, StepBatcher } from '../train/loop';
import { validateRunOptions } from '../train/options';
import { runFigures } from '../train/runFigures';
import { chooseInterpreter, InterpreterError } from './interpreter';
import { layerInfoFromTorch, optimizerNameFromTorch } from './layers';
import { pythonPackageDir, TorchTrainerProcess, type TorchRunEnd } from './trainerProcess';

export { isPytorchModelPath } from './modelPath';

/** The trainer's own failures that are about the user's file or setup: exit 2 in the CLI. */
const INPUT_ERROR_CODES = new Set<TorchError['code']>(['bad-input', 'no-torch', 'import-timeout']);

interface TorchRun {
  ready: TorchReady;
  history: StepStats[];
  stepMs: number[];
  cancelled: boolean;
}

interface TorchRunContext {
  python: string;
  packageDir: string;
  modelPath: string;
  log: (message: string) => void;
  signal?: AbortSignal;
}

/** One trainer run to its end; its failures thrown as `InputError` (the user's file) or `Error`. */
async function runTrainer(
  context: TorchRunContext,
  request: TorchStartRequest,
  hooks: { onReady?: (ready: TorchReady) => void; onStep?: (stats: StepStats) => void } = {},
): Promise<TorchRun> {
  const { modelPath, signal } = context;
  const trainer = new TorchTrainerProcess({
    python: context.python,
    packageDir: context.packageDir,
    cwd: path.dirname(request.modelPath),
    onOutput: (stream, line) => context.log(`${path.basename(modelPath)} ${stream}: ${line}`),
  });
  let ready: TorchReady | undefined;
  const history: StepStats[] = [];
  const stepMs: number[] = [];
  let last = performance.now();
  const onAbort = () => trainer.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) trainer.cancel();
  let end: TorchRunEnd;
  try {
    end = await trainer.run(request, (msg) => {
      switch (msg.type) {
        case 'ready':
          if (msg.protocolVersion !== TORCH_PROTOCOL_VERSION) {
            context.log(`the trainer speaks PyTorch protocol ${msg.protocolVersion}, the engine ${TORCH_PROTOCOL_VERSION}`);
          }
          ready = msg;
          last = performance.now();
          hooks.onReady?.(msg);
          return;
        case 'step': {
          const now = performance.now();
          // Arrival intervals: the trainer reports no timings of its own; this includes the pipe, which is small beside a step.
          stepMs.push(now - last);
          last = now;
          history.push(msg.stats);
          hooks.onStep?.(msg.stats);
          return;
        }
        case 'error':
        case 'done':
          return;
      }
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (end.kind === 'error') throw trainerFailure(end.error, modelPath);
  if (end.kind === 'died') {
    if (end.detail) context.log(end.detail);
    // Before `ready` the trainer is importing and building the user's model: a process that ends
    // there (os._exit, a crash in their extension code) ended in their code, so it is their file's problem.
    if (!ready) throw new InputError(modelPath, `the Python process ended while importing or building the model: ${end.message.startsWith(`${modelPath}: `) ? end.message.slice(modelPath.length + 2) : end.message}`);
    // describeFailure names the file.
    throw new Error(end.message);
  }
  if (!ready) throw new Error('the PyTorch trainer finished without describing the model');
  return { ready, history, stepMs, cancelled: end.done.cancelled };
}

function trainerFailure(error: TorchError, modelPath: string): Error {
  let problem = error.message.startsWith(`${modelPath}: `) ? error.message.slice(modelPath.length + 2) : error.message;
  const candidates = error.candidates ?? [];
  if (candidates.length > 0 && !candidates.every((c) => problem.includes(c.name))) {
    problem += ` (candidates: ${candidates.map((c) => `${c.name}(${c.parameters.join(', ')})`).join(', ')}; pick one with --entry)`;
  }
  if (INPUT_ERROR_CODES.has(error.code)) {
    const failure = new InputError(modelPath, problem, error.layer);
    if (error.detail) failure.stack = `${failure.message}\n${error.detail}`;
    return failure;
  }
  const failure = new Error(problem);
  if (error.detail) failure.stack = `${failure.message}\n${error.detail}`;
  return failure;
}

function startRequest(modelPath: string, options: RunOptions): TorchStartRequest {
  const request: TorchStartRequest = {
    type: 'start',
    protocolVersion: TORCH_PROTOCOL_VERSION,
    modelPath,
    steps: options.steps ?? DEFAULT_RUN_OPTIONS.steps,
    batchSize: options.batchSize ?? DEFAULT_RUN_OPTIONS.batchSize,
    seed: options.seed ?? DEFAULT_RUN_OPTIONS.seed,
    data: options.data ?? 'auto',
    fashionMnistDir: shippedSubsetFolder(),
  };
  if (options.entry !== undefined) request.entry = options.entry;
  if (options.inputShape !== undefined) request.inputShape = options.inputShape;
  if (options.optimizer !== undefined) request.optimizer = options.optimizer;
  if (options.learningRate !== undefined) request.learningRate = options.learningRate;
  if (options.importTimeoutSeconds !== undefined) request.importTimeoutSeconds = options.importTimeoutSeconds;
  return request;
}

function resolvedFrom(ready: TorchReady, request: TorchStartRequest, options: RunOptions): ResolvedRunOptions {
  const resolved: ResolvedRunOptions = {
    steps: request.steps,
    batchSize: request.batchSize,
    learningRate: ready.learningRate,
    // The trainer says `SGD` for both; the request's own name keeps plain SGD and momentum apart.
    optimizer: options.optimizer ?? optimizerNameFromTorch(ready.optimizer),
    loss: ready.loss,
    data: ready.data,
    seed: request.seed,
    backend: `torch ${ready.torchVersion}`,
  };
  if (options.thresholds) resolved.thresholds = options.thresholds;
  return resolved;
}

async function readModelSource(modelPath: string): Promise<string> {
  try {
    const text = await fs.readFile(modelPath, 'utf8');
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(modelPath, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a Python file' : `cannot be read (${code ?? (error as Error).message})`);
  }
}

/**
 * Analyses a PyTorch model file: the trainer (python/gradient_lens/, the user's own Python and
 * torch) trains it and streams `StepStats`; the rules, fix planners and reports are the same
 * ones the TF.js run uses, so every framework gets one diagnosis.
 */
export async function analyzeTorch(modelFile: string, options: RunOptions, sink: EngineSink, signal?: AbortSignal): Promise<Report> {
  const started = Date.now();
  validateRunOptions(options);
  const modelPath = path.resolve(modelFile);
  const text = await readModelSource(modelPath);
  let python: string;
  try {
    python = await chooseInterpreter(options.python);
  } catch (error) {
    if (error instanceof InterpreterError) throw new InputError(modelPath, error.message);
    throw error;
  }
  const context: TorchRunContext = { python, packageDir: pythonPackageDir(), modelPath, log: (message) => sink({ type: 'log', message }), signal };
  sink({ type: 'log', message: `python: ${python}` });
  if (options.loss !== undefined) sink({ type: 'log', message: `--loss is not used for PyTorch files: the trainer takes the output as logits (cross-entropy)` });

  const request = startRequest(modelPath, options);
  const batcher = new StepBatcher((steps) => sink({ type: 'step', steps }), options.maxEventsPerSecond);
  const findings: Finding[] = [];
  let layers: LayerInfo[] = [];
  let resolved: ResolvedRunOptions | undefined;
  let torch: TorchFixContext | undefined;
  let diagnoser: ReturnType<typeof createDiagnoser> | undefined;
  const warnings: string[] = [];
  const withFixes = (finding: Finding): Finding => {
    try {
      return { ...finding, fixes: planFixes(finding, { text, format: 'pytorch', layers, options: resolved!, torch }) };
    } catch (error) {
      sink({ type: 'log', message: `no fixes for ${finding.code}: ${(error as Error).message}` });
      return { ...finding, fixes: [] };
    }
  };
  const emit = (found: Finding[]) => {
    for (const finding of found) {
      batcher.flush();
      const complete = withFixes(finding);
      findings.push(complete);
      sink({ type: 'finding', finding: complete });
    }
  };

  const run = await runTrainer(context, request, {
    onReady: (ready) => {
      layers = ready.layers.map((layer) => layerInfoFromTorch(layer, modelPath));
      resolved = resolvedFrom(ready, request, options);
      torch = { modelPath, entry: ready.entry, layers: ready.layers, optimizerSite: ready.optimizerSite };
      warnings.push(...ready.warnings);
      diagnoser = createDiagnoser({ layers, options: resolved, numClasses: ready.numClasses });
      sink({
        type: 'log',
        message: `torch ${ready.torchVersion} on Python ${ready.pythonVersion}: ${ready.entry}, input ${ready.inputShape.join('×')}, ${ready.numClasses} classes; data: ${ready.data}; ${resolved.steps} steps of ${resolved.batchSize}, ${ready.optimizer} lr ${ready.learningRate}, loss ${ready.loss}`,
      });
      sink({ type: 'ready', protocolVersion: ENGINE_PROTOCOL_VERSION, backend: resolved.backend, modelPath, format: 'pytorch', layers, options: resolved, warnings });
    },
    onStep: (stats) => {
      batcher.add(stats);
      emit(diagnoser?.observe(stats) ?? []);
    },
  });
  batcher.flush();
  emit(diagnoser?.finish() ?? []);
  const used = resolved!;

  const report: Report = {
    schemaVersion: 1,
    model: {
      path: modelPath,
      format: 'pytorch',
      layers: layers.map((layer) => ({ name: layer.name, className: layer.className, range: layer.range, ...(layer.file ? { file: layer.file } : {}) })),
    },
    run: {
      backend: used.backend,
      steps: used.steps,
      batchSize: used.batchSize,
      optimizer: used.optimizer,
      learningRate: used.learningRate,
      seed: used.seed,
      durationMs: 0,
      stepMsMedian: median(run.stepMs),
      loss: used.loss,
      data: used.data,
      stepsCompleted: run.history.length,
      cancelled: run.cancelled,
    },
    history: { loss: run.history.map((s) => s.loss), accuracy: run.history.map((s) => s.accuracy ?? 0) },
    findings,
    layerSummary: layerSummaryFrom(run.history, layers),
  };
  if (warnings.length > 0) report.warnings = warnings;
  if (options.verifyFixes && !run.cancelled) {
    report.verifications = await verifyTorchFixes(context, text, request, run, used, findings);
  }
  report.run.durationMs = Date.now() - started;
  sink({ type: 'done', report });
  return report;
}

function remainingCodes(run: TorchRun, layers: LayerInfo[], resolved: ResolvedRunOptions): FindingCode[] {
  const diagnoser = createDiagnoser({ layers, options: resolved, numClasses: run.ready.numClasses });
  const codes = new Set<FindingCode>();
  for (const step of run.history) for (const finding of diagnoser.observe(step)) codes.add(finding.code);
  for (const finding of diagnoser.finish()) codes.add(finding.code);
  return [...codes];
}

/**
 * `--verify-fixes` for a PyTorch file: each finding's best fix applied to the source in memory,
 * written to a hidden copy in the model's own folder (so the file's relative imports and paths
 * still resolve), trained with the same module, input shape, seed and data, and removed. A fix
 * that is a setting (a learning rate the file has no literal for) is passed as that option.
 */
async function verifyTorchFixes(
  context: TorchRunContext,
  text: string,
  request: TorchStartRequest,
  before: TorchRun,
  resolved: ResolvedRunOptions,
  findings: Finding[],
): Promise<FixVerification[]> {
  const verifications: FixVerification[] = [];
  const beforeFigures = runFigures(before.history);
  const tried = new Set<string>();
  const folder = path.dirname(context.modelPath);
  for (const finding of findings) {
    const fix = finding.fixes[0];
    const rate = fix?.setting?.key === 'gradientLens.learningRate' && typeof fix.setting.value === 'number' ? fix.setting.value : undefined;
    if (!fix || (fix.edits.length === 0 && rate === undefined) || context.signal?.aborted) continue;
    const key = JSON.stringify([fix.edits, fix.setting ?? null]);
    if (tried.has(key)) continue;
    tried.add(key);
    const verification: FixVerification = {
      findingCode: finding.code,
      fixCode: fix.code,
      layer: finding.layer,
      before: beforeFigures,
      after: { finalLoss: NaN, firstLastRatio: NaN, deadFraction: 0 },
      remaining: [],
    };
    // A valid module name: the trainer may import the copy as a module of its own.
    const editedPath = path.join(folder, `_gradient_lens_verify_${process.pid}_${path.basename(context.modelPath)}`);
    try {
      const editedRequest: TorchStartRequest = { ...request, modelPath: editedPath, entry: before.ready.entry, inputShape: before.ready.inputShape, data: request.data };
      if (rate !== undefined) editedRequest.learningRate = rate;
      await fs.writeFile(editedPath, fix.edits.length > 0 ? applyEdits(text, fix.edits) : text);
      context.log(`verifying ${fix.code} for ${finding.code}${finding.layer ? ` at ${finding.layer}` : ''}`);
      const after = await runTrainer({ ...context, modelPath: editedPath }, editedRequest);
      const afterLayers = after.ready.layers.map((layer) => layerInfoFromTorch(layer, editedPath));
      verification.after = runFigures(after.history);
      verification.remaining = remainingCodes(after, afterLayers, { ...resolved, learningRate: after.ready.learningRate });
    } catch (error) {
      verification.error = (error as Error).message.split(editedPath).join(context.modelPath);
    } finally {
      await fs.rm(editedPath, { force: true });
    }
    verifications.push(verification);
  }
  return verifications;
}
