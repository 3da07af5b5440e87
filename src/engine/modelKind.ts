import { isKerasSourceFile } from './keras/kerasSource';
import { isPytorchModelPath } from './pytorch/modelPath';

/**
 * True when the engine trains this model file with TF.js: every format but a PyTorch `.py`
 * (a `.py` that builds a Keras model is exported by the user's Keras and trained with TF.js).
 */
export function trainsWithTfjs(modelPath: string): boolean {
  return !isPytorchModelPath(modelPath) || isKerasSourceFile(modelPath);
}
