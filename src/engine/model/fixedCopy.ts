import { unzipSync, zipSync } from 'fflate';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Fix } from '../../shared/findings';
import { applyEdits } from '../../shared/fixes/index';
import { InputError } from '../errors';
import { readKerasZip } from './kerasFiles';

/**
 * Writes a fix to a `.keras` file as an edited copy beside it (`model.keras` → `model.fixed.keras`),
 * never over the user's file. The fix edits are against the config text the engine planned on
 * (`readKerasZip`'s, so the same bytes in give the same text); the copy holds the edited
 * `config.json`, the original `metadata.json` and the original `model.weights.h5`.
 *
 * Keras keys `.keras` weights by class and position (FACTS.md) and refuses a file whose config
 * has layers the weights lack, so a fix that adds or removes layers (BatchNormalization) cannot
 * reuse the weights file, and jsfive only reads HDF5: such a fix is refused with what to do instead.
 */
export function writeFixedKerasCopy(filePath: string, fix: Fix): string {
  if (!/\.keras$/i.test(filePath)) {
    throw new InputError(filePath, 'an edited copy can be written for .keras files only (a legacy .h5 keeps its weights in a layout a .keras copy cannot reuse); re-save the model with model.save("model.keras")');
  }
  const bytes = readFileSync(filePath);
  const contents = readKerasZip(filePath, bytes);
  const edited = applyEdits(contents.configText, fix.edits);
  let editedConfig: unknown;
  try {
    editedConfig = JSON.parse(edited);
  } catch (error) {
    throw new InputError(filePath, `the fix "${fix.title}" does not give valid JSON (${(error as Error).message})`);
  }
  const before = layerClasses(JSON.parse(contents.configText));
  const after = layerClasses(editedConfig);
  if (before.join() !== after.join()) {
    throw new InputError(
      filePath,
      `the fix "${fix.title}" adds or removes layers, whose weights the copy would need to hold; apply it where the model is built (its .py) and save again, or use a fix that keeps the layers (ReLU, initializer, learning rate)`,
    );
  }
  const entries = unzipSync(bytes);
  const out = path.join(path.dirname(filePath), `${path.basename(filePath, path.extname(filePath))}.fixed.keras`);
  if (path.resolve(out) === path.resolve(filePath)) throw new InputError(filePath, 'the edited copy would overwrite the file itself');
  // Keras writes config.json on one line; the copy does too. Stored, not deflated, as Keras does.
  const files: Record<string, Uint8Array> = { ...entries, 'config.json': new TextEncoder().encode(JSON.stringify(editedConfig)) };
  writeFileSync(out, zipSync(files, { level: 0 }));
  return out;
}

/** Class names of every layer, nested models' included, in config order. */
function layerClasses(model: unknown): string[] {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    const config = (node as { config?: unknown } | null)?.config;
    const layers = Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers;
    if (!Array.isArray(layers)) return;
    for (const layer of layers) {
      out.push(String((layer as { class_name?: unknown }).class_name));
      walk(layer);
    }
  };
  walk((model as { model_config?: unknown }).model_config ?? model);
  return out;
}
