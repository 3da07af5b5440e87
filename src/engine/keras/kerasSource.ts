import { readFileSync } from 'node:fs';
import { isKerasSource } from './kerasPython';

/** A `.py` whose imports are Keras' (not torch's): exported by the user's Keras, trained with TF.js. Unreadable: left to the PyTorch path's own message. */
export function isKerasSourceFile(filePath: string): boolean {
  try {
    return isKerasSource(readFileSync(filePath, 'utf8'));
  } catch {
    return false;
  }
}
