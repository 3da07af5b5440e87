import { ENGINE_PROTOCOL_VERSION, type EngineToHostMessage } from '../shared/engineProtocol';
import type { Finding } from '../shared/findings';
import type { LayerInfo } from '../shared/model';
import type { Report } from '../shared/report';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../shared/runOptions';
import { createDiagnoser, suspectsLearningRate } from '../shared/rules/index';
import type { LrRangeResult } from '../shared/lrRange';
import { planFixes } from '../shared/fixes/index';
import { rankFixesByComparison } from '../shared/fixes/comparison';
import { selectBackend } from './backend';
import { markStartup, startupLog } from './startupPhases';
import { analyzeTorch } from './pytorch/analyzeTorch';
import { trainsWithTfjs } from './modelKind';
import * as path from 'node:path';
import { locateModel } from '../shared/locator';
import { exportKerasPython } from './keras/kerasPython';
import { loadModelFile, type LoadedModel } from './model/load';
import { findKerasSourceBeside } from './keras/kerasSource';
import { layerSummaryFrom } from './report/layerSummary';
import { eventIntervalMs, median, StepBatcher } from './train/loop';
import { resolveRunOptions, validateRunOptions } from './train/options';
import { loadRunData, trainLoadedModel } from './train/trainLoaded';
import { chanceLossFor, runLrRangeTest } from './train/lrRange';
import { compareFixes, sameCandidates, startComparison, topFinding, warmCandidateEngines, type ComparisonRun } from './train/compareFixes';
import * as tf from '@tensorflow/tfjs';
import { verifyFixes } from './train/verifyFixes';
import { isRunFilePath } from '../shared/runFile';
import { analyzeRunFile } from './watch/analyzeRun';

export type EngineSink = (msg: EngineToHostMessage) => void;

/**
 * A `.keras`/`.h5` file is binary: its layers have no place the user edits. With a `.py` that
 * builds the same model, each layer points at its constructor call there (`file` + `range`), so
 * markers land in the `.py`. Layers are matched by position and class (names differ between
 * Keras sessions: `conv2d_9` in the file may be `conv2d` in a fresh run); a different model
 * leaves the layers as they are, with a warning.
 */
async function mapOntoSource(loaded: LoadedModel, source: string, options: RunOptions, warnings: string[], log: (line: string) => void): Promise<void> {
  let exported;
  try {
    exported = await exportKerasPython(source, { python: options.python, entry: options.entry, seed: options.seed, importTimeoutSeconds: options.importTimeoutSeconds }, log);
  } catch (error) {
    warnings.push(`markers stay in the panel: ${(error as Error).message}`);
    return;
  }
  const theirs = locateModel(exported.contents.configText).layers;
  const ours = loaded.layers;
  const same = theirs.length === ours.length && theirs.every((layer, i) => layer.className === ours[i].className);
  if (!same) {
    warnings.push(`markers stay in the panel: ${source} builds a different model (${theirs.length} layers: ${theirs.slice(0, 6).map((l) => l.className).join(', ')}${theirs.length > 6 ? ', …' : ''}) than ${loaded.path} (${ours.length} layers)`);
    return;
  }
  loaded.layers = ours.map((layer, i) => {
    const site = exported.sites[theirs[i].name];
    if (!site) return layer;
    // The config-text ranges would point into the binary file's JSON: only the call in the .py is kept.
    const { nameRange: _n, activationRange: _a, initializerRange: _i, ...rest } = layer;
    return { ...rest, file: source, range: site.range };
  });
}

/**
 * Runs one analysis: backend, model, data, instrumented training, rules, report. Messages go to
 * `sink` as they happen; the returned report is also sent as `done`. Aborting `signal` ends
 * the run after the current step with a report marked `cancelled`.
 */
export async function analyze(modelPath: string, options: RunOptions, sink: EngineSink, signal?: AbortSignal): Promise<Report> {
  // A `.py` model trains in the user's own PyTorch; the rules, fixes and report below are shared.
  // (A `.py` that builds a Keras model is exported by the user's Keras and trained here with TF.js.)
  if (!trainsWithTfjs(modelPath)) return analyzeTorch(modelPath, options, sink, signal);
  // A run file of gradient_lens.watch(): a real run, recorded; the same rules judge it (cancel stops following).
  if (isRunFilePath(modelPath)) {
    return analyzeRunFile(modelPath, sink, { follow: options.followRunFile, signal, maxEventsPerSecond: options.maxEventsPerSecond, thresholds: options.thresholds });
  }
  const started = Date.now();
  validateRunOptions(options);
  const backend = await selectBackend(options.backend ?? 'auto');
  markStartup('backend');
  sink({ type: 'log', message: `backend: ${backend}` });
  const loaded = await loadModelFile(modelPath, {
    seed: options.seed ?? DEFAULT_RUN_OPTIONS.seed,
    batchSize: options.batchSize,
    optimizer: options.optimizer,
    weights: options.weights,
    python: options.python,
    entry: options.entry,
    importTimeoutSeconds: options.importTimeoutSeconds,
    log: (line) => sink({ type: 'log', message: line }),
  });
  const warnings = [...loaded.warnings];
  if (loaded.format === 'keras' || loaded.format === 'keras-h5') {
    const log = (line: string) => sink({ type: 'log', message: line });
    if (options.kerasSource) {
      await mapOntoSource(loaded, path.resolve(options.kerasSource), options, warnings, log);
    } else {
      const beside = findKerasSourceBeside(loaded.path);
      log(beside.file ? `model source: ${beside.file} (${beside.why}); its layers.X(...) calls get the markers if it builds the same model` : `model source: none found (${beside.why}); markers stay in the panel and the report`);
      if (beside.file) await mapOntoSource(loaded, beside.file, options, warnings, log);
      if (beside.ambiguous) warnings.push(`markers stay in the panel: ${beside.why}`);
    }
  }
  markStartup('model');
  const resolved = resolveRunOptions(options, loaded.trainingConfig, loaded.path, backend, warnings);
  const batcher = new StepBatcher((steps) => sink({ type: 'step', steps }), options.maxEventsPerSecond);
  const findings: Finding[] = [];
  let diagnoser: ReturnType<typeof createDiagnoser> | undefined;
  let layers: LayerInfo[] = [];
  let lrRange: LrRangeResult | undefined;
  // A planner failing on one finding must not cost the user the run and the other findings.
  const withFixes = (finding: Finding): Finding => {
    try {
      // Binary and Python Keras files are planned on their config JSON (`loaded.text`), in that JSON's shape.
      // A Keras .py is planned on its Python source, at the constructor sites the exporter recorded.
      const kerasPython = loaded.kerasPython;
      const format = kerasPython ? 'keras-python' : (loaded.configFormat ?? loaded.format);
      const ctx = {
        text: kerasPython ? kerasPython.source : loaded.text,
        format,
        layers,
        options: resolved,
        lrRange,
        trainedWeights: loaded.weightsSource?.kind === 'trained',
        ...(kerasPython ? { kerasPython: { modelPath: loaded.path, sites: kerasPython.sites } } : {}),
      } as const;
      return { ...finding, fixes: planFixes(finding, ctx) };
    } catch (error) {
      sink({ type: 'log', message: `no fixes for ${finding.code}: ${(error as Error).message}` });
      return { ...finding, fixes: [] };
    }
  };

  const loadingInterval = eventIntervalMs(options.maxEventsPerSecond);
  let lastLoading = -Infinity;
  const onLoading = (what: string, done: number, total: number): void => {
    const now = performance.now();
    if (done < total && now - lastLoading < loadingInterval) return;
    lastLoading = now;
    sink({ type: 'loading', what, done, total });
  };
  const dataset = await loadRunData(loaded, resolved, onLoading);
  markStartup('data');
  const findLr = options.findLr ?? 'auto';
  // The range test starts from the run's initial weights: kept aside (a copy of the weights
  // only) until the run has shown whether the rate is suspected.
  const initialWeights = findLr === 'never' ? undefined : loaded.model.getWeights().map((w) => w.clone());
  // --compare-fixes starts its candidates as soon as the run's top finding is known (see below).
  let early: ComparisonRun | undefined;
  // Their engines are forked while the run trains, on the core it leaves idle until then.
  const warm = options.compareFixes ? warmCandidateEngines(loaded.path) : undefined;
  warm?.warmWhileTraining();
  const log = (message: string) => sink({ type: 'log', message });
  const training = trainLoadedModel(loaded, resolved, {
    signal,
    dataset,
    onLog: (line) => sink({ type: 'log', message: line }),
    onReady: (described, dataName) => {
      layers = described;
      if (resolved.data === 'auto') resolved.data = dataName;
      diagnoser = createDiagnoser({ layers, options: resolved, numClasses: loaded.numClasses });
      sink({ type: 'log', message: `data: ${dataName}; ${resolved.steps} steps of ${resolved.batchSize}, ${resolved.optimizer} lr ${resolved.learningRate}, loss ${resolved.loss}` });
      markStartup('ready');
      const startup = startupLog();
      if (startup) sink({ type: 'log', message: startup });
      sink({ type: 'ready', protocolVersion: ENGINE_PROTOCOL_VERSION, backend, modelPath: loaded.path, format: loaded.format, layers, options: resolved, warnings, ...(loaded.weightsSource ? { weights: loaded.weightsSource } : {}) });
    },
    onStep: (stats) => {
      batcher.add(stats);
      warm?.warmWhileTraining(early !== undefined);
      for (const finding of diagnoser?.observe(stats) ?? []) {
        batcher.flush();
        const complete = withFixes(finding);
        findings.push(complete);
        sink({ type: 'finding', finding: complete });
        // The first error with fixes to weigh stays the top finding (topFinding: most severe,
        // first found); the end of the run checks that it did and that its fixes held.
        if (options.compareFixes && !early && complete.severity === 'error' && complete.fixes.length > 1 && topFinding(findings) === complete) {
          try {
            early = startComparison(loaded.path, loaded.text, options, resolved, complete, log, signal, { engines: warm, runStepsLeft: resolved.steps - stats.step - 1 });
          } catch (error) {
            log(`comparing fixes after the run: ${(error as Error).message}`);
          }
        }
      }
    },
  });
  const run = await training.catch(async (error: unknown) => {
    await warm?.dispose();
    throw error;
  });
  batcher.flush();
  const wantRange = findLr === 'always' || (findLr === 'auto' && suspectsLearningRate({ layers, options: resolved, numClasses: loaded.numClasses }, run.history));
  if (initialWeights && wantRange && !run.cancelled && !signal?.aborted) {
    sink({ type: 'log', message: `learning-rate range test (${resolved.optimizer}, ${findLr === 'always' ? 'asked for' : 'the rate is suspected'})` });
    loaded.model.setWeights(initialWeights);
    lrRange = await runLrRangeTest(loaded.model, dataset, resolved, { signal }, chanceLossFor(resolved.loss, loaded.numClasses));
    sink({ type: 'log', message: `range test: ${lrRange.points.length} steps in ${Math.round(lrRange.durationMs)} ms, suggested ${lrRange.suggestedLr ?? 'none'}` });
    // Findings emitted live were planned before the measurement: their rate fixes now carry it.
    findings.splice(0, findings.length, ...findings.map(withFixes));
  }
  if (initialWeights) tf.dispose(initialWeights);
  for (const finding of diagnoser?.finish({ lrRange }) ?? []) {
    const complete = withFixes(finding);
    findings.push(complete);
    sink({ type: 'finding', finding: complete });
  }

  const report: Report = {
    schemaVersion: 1,
    model: {
      path: loaded.path,
      format: loaded.format,
      layers: layers.map((layer) => ({ name: layer.name, className: layer.className, range: layer.nameRange ?? layer.range, ...(layer.file ? { file: layer.file } : {}) })),
      ...(loaded.weightsSource ? { weights: loaded.weightsSource } : {}),
    },
    run: {
      backend,
      steps: resolved.steps,
      batchSize: resolved.batchSize,
      optimizer: resolved.optimizer,
      learningRate: resolved.learningRate,
      seed: resolved.seed,
      durationMs: 0,
      stepMsMedian: median(run.stepMs),
      loss: resolved.loss,
      data: resolved.data,
      stepsCompleted: run.history.length,
      cancelled: run.cancelled,
    },
    history: { loss: run.history.map((s) => s.loss), accuracy: run.history.map((s) => s.accuracy ?? 0) },
    findings,
    layerSummary: layerSummaryFrom(run.history, layers),
  };
  if (lrRange) report.lrRange = lrRange;
  if (warnings.length > 0) report.warnings = warnings;
  loaded.model.dispose();
  if (options.verifyFixes && !run.cancelled) {
    report.verifications = await verifyFixes(loaded, options, resolved, run, findings, (message) => sink({ type: 'log', message }), signal);
  }
  const top = topFinding(findings);
  if (early && (run.cancelled || !top || !sameCandidates(top, early.finding))) {
    if (!run.cancelled) log(`the top finding changed after ${early.finding.code}: comparing its fixes again`);
    await early.cancel();
    early = undefined;
  }
  if (options.compareFixes && !run.cancelled) {
    const baselineMs = Date.now() - started;
    const comparison = early ? await early.finish(run.history, baselineMs) : await compareFixes(loaded.path, loaded.text, options, resolved, run.history, findings, log, signal, { baselineMs, engines: warm });
    if (comparison) {
      report.comparison = comparison;
      report.findings = rankFixesByComparison(report.findings, comparison);
    }
  }
  await warm?.dispose();
  report.run.durationMs = Date.now() - started;
  sink({ type: 'done', report });
  return report;
}
