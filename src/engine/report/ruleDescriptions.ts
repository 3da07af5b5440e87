import type { FindingCode } from '../../shared/codes';

/** One line per finding code, for SARIF rule metadata (code scanning shows it as the rule's title). */
export const RULE_DESCRIPTIONS: Record<FindingCode, string> = {
  'vanishing-gradient': 'Gradients shrink on their way back to the first layers, so those layers barely learn.',
  'exploding-gradient': 'Gradients grow on their way back through the layers until updates overshoot or overflow.',
  'non-finite': 'The loss, a gradient or a weight became NaN or infinite.',
  'dying-relu': 'Most units of a ReLU layer never activate, so no gradient flows through them.',
  'saturated-activation': 'A sigmoid, tanh or softmax layer sits in its flat tails, where its gradient is near zero.',
  'poor-initialization': 'The initial weights are scaled badly for the activation (He for ReLU, Glorot for tanh, LeCun for SELU).',
  'learning-rate-too-high': 'Updates are large relative to the weights: the loss diverges or jumps.',
  'learning-rate-too-low': 'Updates are tiny relative to the weights: the loss hardly moves.',
  'oscillating-loss': 'The loss or accuracy swings up and down instead of settling.',
  'slow-convergence': 'The loss falls too slowly to train in a reasonable number of steps.',
};
