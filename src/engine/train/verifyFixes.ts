import { unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Finding, FixVerification } from '../../shared/findings';
import type { FindingCode } from '../../shared/codes';
import type { ResolvedRunOptions, RunOptions } from '../../shared/runOptions';
import type { StepStats } from '../../shared/stats';
import { createDiagnoser } from '../../shared/rules/index';
import { applyEdits } from '../../shared/fixes/index';
import { trainLoadedModel, type TrainedRun } from './trainLoaded';
import { loadModelFile, type LoadedModel } from '../model/load';
import { resolveRunOptions } from './options';
import { runFigures } from './runFigures';

export { runFigures } from './runFigures';

function remainingCodes(run: TrainedRun, resolved: ResolvedRunOptions): FindingCode[] {
  const diagnoser = createDiagnoser({ layers: run.layers, options: resolved, numClasses: run.numClasses });
  const codes = new Set<FindingCode>();
  for (const step of run.history) for (const finding of diagnoser.observe(step)) codes.add(finding.code);
  for (const finding of diagnoser.finish()) codes.add(finding.code);
  return [...codes];
}

/**
 * Applies each finding's best fix to the file text in memory and trains the edited model with
 * the same seed and data. Settings are resolved again from the edited file (the caller's explicit
 * options still win), so a fix that edits the training config — learning rate, optimizer,
 * clipping — takes effect in the re-run. The edited text is written next to the model (so TF.js weight
 * shard paths still resolve) under a hidden name, and removed afterwards.
 */
export async function verifyFixes(
  original: LoadedModel,
  requested: RunOptions,
  resolved: ResolvedRunOptions,
  before: TrainedRun,
  findings: Finding[],
  log: (message: string) => void,
  signal?: AbortSignal,
): Promise<FixVerification[]> {
  const verifications: FixVerification[] = [];
  const beforeFigures = runFigures(before.history);
  const tried = new Set<string>();
  for (const finding of findings) {
    const fix = finding.fixes[0];
    if (!fix || fix.edits.length === 0 || signal?.aborted) continue;
    const key = JSON.stringify(fix.edits);
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
    const extension = path.extname(original.path) || '.json';
    const editedPath = path.join(path.dirname(original.path), `.${path.basename(original.path, extension)}.gradient-lens-verify-${process.pid}${extension}`);
    // A binary Keras file (or a Keras .py) keeps its weights outside the config text: the edited
    // config is built in memory and the file's weights go into every layer that still matches.
    // A Keras .py's fix edits its source: the edited .py is run through the user's Keras again, like a JSON file is re-read.
    const inMemory = original.kerasFile !== undefined && original.format !== 'keras-python';
    try {
      const editedText = applyEdits(original.kerasPython?.source ?? original.text, fix.edits);
      if (!inMemory) writeFileSync(editedPath, editedText);
      const loadOptions = {
        seed: resolved.seed,
        batchSize: resolved.batchSize,
        optimizer: resolved.optimizer,
        weights: requested.weights,
        python: requested.python,
        entry: requested.entry,
        importTimeoutSeconds: requested.importTimeoutSeconds,
      };
      const edited = inMemory
        ? await loadModelFile(original.path, { ...loadOptions, editedConfigText: editedText, exported: original.kerasFile })
        : await loadModelFile(editedPath, loadOptions);
      try {
        const editedResolved = resolveRunOptions({ ...requested, data: resolved.data }, edited.trainingConfig, original.path, resolved.backend, []);
        log(`verifying ${fix.code} for ${finding.code}${finding.layer ? ` at ${finding.layer}` : ''} (${editedResolved.optimizer} lr ${editedResolved.learningRate})`);
        const after = await trainLoadedModel(edited, editedResolved, { signal });
        verification.after = runFigures(after.history);
        verification.remaining = remainingCodes(after, editedResolved);
      } finally {
        edited.model.dispose();
      }
    } catch (error) {
      verification.error = (error as Error).message.replace(editedPath, original.path);
    } finally {
      try {
        if (!inMemory) unlinkSync(editedPath);
      } catch {
        // Already gone: nothing to clean.
      }
    }
    verifications.push(verification);
  }
  return verifications;
}
