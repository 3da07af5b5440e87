/**
 * Keras model sources told apart by their text alone: deciding must not run the user's code
 * (that happens only when they ask for an analysis). Shared by the host (menus, which `.py` is
 * Keras) and the engine (which trainer, which `.py` beside a `.keras` file gets the markers).
 */

/** Keras or tf.keras imported, torch not: a PyTorch file that mentions Keras in a comment stays PyTorch. */
export function importsKeras(text: string): boolean {
  const keras = /^\s*(import\s+keras\b|from\s+keras\b|from\s+tensorflow(\.keras)?\s+import\b|import\s+tensorflow\b|from\s+tensorflow\.keras\b)/m.test(text);
  const torch = /^\s*(import\s+torch\b|from\s+torch\b)/m.test(text);
  return keras && !torch;
}

/** A Keras source that also constructs a model (`Sequential(`, `Model(`, `Input(`), not only a utility module. */
export function buildsKerasModel(text: string): boolean {
  return importsKeras(text) && /\b(Sequential|Model|Input)\s*\(/.test(text);
}
