import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { buildsKerasModel, importsKeras } from '../../shared/kerasSource';

/** A `.py` whose imports are Keras' (not torch's): exported by the user's Keras, trained with TF.js. Unreadable: left to the PyTorch path's own message. */
export function isKerasSourceFile(filePath: string): boolean {
  try {
    return importsKeras(readFileSync(filePath, 'utf8'));
  } catch {
    return false;
  }
}

/** Larger `.py` files are not model builders worth running to find out. */
const MAX_SOURCE_BYTES = 1 << 20;

/** `ambiguous`: several builders and none of the same stem, which the user can settle with `--source`. */
export interface SourceBeside {
  file?: string;
  why: string;
  ambiguous?: boolean;
}

/**
 * The `.py` beside a `.keras`/`.h5` file that builds its model, when no `--source` names one: the
 * file of the same stem (`vanishing.keras` ↔ `vanishing.py`) if it builds a Keras model, else the
 * only `.py` in that folder that does. Several candidates and none of the same stem: none is
 * chosen, since each would run as the user's code — the reason says which to pass to `--source`.
 * Whether it builds the *same* model is checked after it ran (`mapOntoSource`).
 */
export function findKerasSourceBeside(modelPath: string): SourceBeside {
  const folder = path.dirname(modelPath);
  const stem = path.basename(modelPath).replace(/\.(keras|h5|hdf5)$/i, '');
  let names: string[];
  try {
    names = readdirSync(folder).filter((name) => name.endsWith('.py')).sort();
  } catch {
    return { why: `${folder} cannot be listed` };
  }
  const builds = (name: string): boolean => {
    const file = path.join(folder, name);
    try {
      return statSync(file).size <= MAX_SOURCE_BYTES && buildsKerasModel(readFileSync(file, 'utf8'));
    } catch {
      return false;
    }
  };
  const sameStem = `${stem}.py`;
  if (names.includes(sameStem) && builds(sameStem)) return { file: path.join(folder, sameStem), why: 'it has the same name' };
  const builders = names.filter(builds);
  if (builders.length === 1) return { file: path.join(folder, builders[0]), why: `it is the only Keras model source in ${folder}` };
  if (builders.length === 0) return { why: `no .py beside it builds a Keras model` };
  return { ambiguous: true, why: `${builders.length} .py files beside it build Keras models (${builders.slice(0, 4).join(', ')}${builders.length > 4 ? ', …' : ''}); name one with --source` };
}
