import type { Range } from './textRange';

/**
 * `keras` / `keras-h5`: the binary files Keras saves (a `.keras` zip, a legacy HDF5 `.h5`);
 * `keras-python`: a `.py` that builds a Keras model. Their config is read as Keras 2/3 JSON.
 */
export type ModelFormat = 'keras2' | 'keras3' | 'tfjs-layers' | 'pytorch' | 'keras' | 'keras-h5' | 'keras-python';

/** Where the run's starting weights came from: the file's trained weights, or the config's initializers. */
export interface WeightsSource {
  kind: 'trained' | 'init';
  /** The file the trained weights were read from. */
  file?: string;
}

/** "trained weights from model.keras" / "fresh initialisation": the panel's and the report's wording. */
export function describeWeights(weights: WeightsSource, fullPath = false): string {
  if (weights.kind === 'init') return 'fresh initialisation';
  const file = weights.file ?? 'the file';
  return `trained weights from ${fullPath ? file : (file.split(/[\\/]/).pop() ?? file)}`;
}

/** One layer of the model file, as the locator and the engine both see it. */
export interface LayerInfo {
  name: string;
  className: string;
  /** The layer's config object in the model file (from `{` to `}`). */
  range: Range;
  /** The range of the layer's `"name"` value (what the CLI contract's `range` points at the name by). */
  nameRange?: Range;
  /** The `activation` value's range, the string included, where the layer has one. */
  activationRange?: Range;
  /** The `kernel_initializer` (or `kernelInitializer`) value's range, where the layer has one. */
  initializerRange?: Range;
  activation?: string;
  kernelInitializer?: string;
  /** Number of trainable parameters, once the engine has built the model. */
  paramCount?: number;
  /** Output shape without the batch dimension, once built. */
  outputShape?: number[];
  /** True when the engine records gradient statistics for this layer (it has a trainable kernel). */
  instrumented?: boolean;
  /**
   * Absolute path of the file `range` is in, when that is not the model file (a PyTorch block
   * class imported from another module). Absent: the model file.
   */
  file?: string;
  /**
   * Other places the user needs to see with a finding on this layer: for a module built inside a
   * reusable block class, where that block was instantiated (`self.layer1 = CustomCNNLayer(...)`).
   */
  related?: Array<{ file?: string; range: Range; message: string }>;
  /** For a layer of a nested model: the name of the model it is in (the locator's `nestedLayers`). */
  parent?: string;
  /**
   * `outputShape` is channels first (PyTorch's NCHW, [C, H, W]); absent for Keras / TF.js,
   * whose shapes are channels last.
   */
  channelsFirst?: boolean;
}

/** Training settings read from the file's `training_config` / `trainingConfig`. */
export interface FileTrainingConfig {
  optimizer?: string;
  learningRate?: number;
  loss?: string;
  clipNorm?: number;
  clipValue?: number;
}
