/**
 * Per-layer statistics of one training step. Gradient figures are over the layer's kernel
 * (or BatchNormalization's gamma): biases have other scales and would blur a comparison
 * across layers. Layers are compared by RMS, not L2, because their sizes differ (FACTS.md).
 */
export interface LayerStepStats {
  /** Layer name, as in the model file. */
  layer: string;
  gradL2: number;
  /** L2 / sqrt(element count). */
  gradRms: number;
  gradMeanAbs: number;
  gradMaxAbs: number;
  /** Fraction of gradient elements exactly 0. */
  gradZeroFraction: number;
  /** Count of NaN or ±Infinity gradient elements. */
  gradNonFinite: number;
  weightL2: number;
  /** ‖ΔW‖ / ‖W‖ for this step's optimizer update (0 when the weight norm is 0). */
  updateRatio: number;
  /** Statistics of the layer's output activations on this step's batch, where recorded. */
  activationMean?: number;
  activationStd?: number;
  /** ReLU-family outputs: fraction of units (channels for conv) never positive over the batch. */
  deadFraction?: number;
  /** sigmoid/tanh/softmax outputs: fraction of elements in the flat tails (|tanh| > 0.99, sigmoid < 0.01 or > 0.99). */
  saturatedFraction?: number;
}

export interface StepStats {
  /** Zero-based step index. */
  step: number;
  loss: number;
  accuracy?: number;
  layers: LayerStepStats[];
}
