/** Caps any data set the engine builds or decodes at 64 MB of float32, so large inputs (224×224×3) cannot exhaust memory. */
export const MAX_DATASET_ELEMENTS = 16 * 1024 * 1024;

/** How far a slow load has got (called after each unit of work, e.g. each image decoded). */
export type LoadProgress = (what: string, done: number, total: number) => void;

/**
 * A classification data set in plain typed arrays, so batches are cheap to slice and the
 * training loop decides when tensors are made (and disposed).
 */
export interface Dataset {
  /** 'fashion-mnist', 'synthetic', or the user's path. */
  name: string;
  /** Shape of one example, e.g. [28, 28, 1]. */
  inputShape: number[];
  numClasses: number;
  size: number;
  /** Row-major examples, `size × prod(inputShape)`, scaled to [0, 1] (images) or ~N(0, 1). */
  x: Float32Array;
  /** Class index per example. */
  y: Int32Array;
  /** The examples were pixel bytes (0–255) scaled by 1/255: a model that rescales its input itself wants them back. */
  fromBytes: boolean;
}
