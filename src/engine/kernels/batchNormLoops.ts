/**
 * Training BatchNormalization over flat channels-last arrays, shared by the cpu and wasm
 * kernels. Each loop walks one channel at a time with a stride, so accumulators and per-channel
 * constants stay in registers: measured 2× faster than an inner loop over channels on
 * [32, 28, 28, 8]. Sums are float64: one channel there adds 25,088 values.
 */

/**
 * Set while a data-parallel step runs (src/engine/train/dataParallel.ts): each replica holds a
 * slice of the batch, and BatchNormalization must see the whole batch's statistics. It receives
 * this replica's per-channel figures and returns every replica's, in replica order, so each one
 * combines them in the same order and they all get bit-identical results.
 */
export type BatchNormExchange = (local: Float64Array) => Float64Array[];
let exchange: BatchNormExchange | undefined;

export function setBatchNormExchange(next: BatchNormExchange | undefined): void {
  exchange = next;
}

/** Per-channel mean and (biased, as tf.moments) variance. */
export function channelMomentsInto(x: Float32Array, channels: number, mean: Float32Array, variance: Float32Array): void {
  if (exchange) return sharedChannelMomentsInto(exchange, x, channels, mean, variance);
  const count = x.length / channels;
  const figures = new Float64Array(2);
  for (let c = 0; c < channels; c++) {
    channelMeanAndSquares(x, channels, c, figures);
    mean[c] = figures[0];
    variance[c] = figures[1] / count;
  }
}

/**
 * Channel c's mean and sum of squared deviations from it, in one pass: the sums are taken of
 * x − s with s one of the channel's own values, in float64, so Σ(x − s)² − n·(x̄ − s)² cancels
 * only about as much as the data's spread around one of its samples (a plain Σx² − n·x̄² loses
 * everything when |x̄| ≫ σ). Measured 1.8× faster than two passes on [32, 28, 28, 8].
 */
function channelMeanAndSquares(x: Float32Array, channels: number, c: number, figures: Float64Array): void {
  const count = x.length / channels;
  if (count === 0) {
    figures[0] = figures[1] = 0;
    return;
  }
  const shift = x[c];
  let sum = 0;
  let squares = 0;
  for (let i = c; i < x.length; i += channels) {
    const shifted = x[i] - shift;
    sum += shifted;
    squares += shifted * shifted;
  }
  const offset = sum / count;
  figures[0] = shift + offset;
  figures[1] = Math.max(squares - sum * offset, 0);
}

export interface BatchNormGradSources {
  x: Float32Array;
  dy: Float32Array;
  gamma: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/**
 * The closed-form gradient of y = γ·(x − μ)/σ + β with μ, σ the batch statistics:
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/σ · (dy − dβ/n − x̂·dγ/n)
 * computed per channel as one pass for the sums and one for dx = a·dy + b·x + d.
 */
export function batchNormGradInto(sources: BatchNormGradSources, dx: Float32Array, dGamma: Float32Array, dBeta: Float32Array): void {
  const { x, dy, gamma, mean, variance, epsilon } = sources;
  const channels = gamma.length;
  const localSums = exchange ? new Float64Array(1 + 2 * channels) : undefined;
  for (let c = 0; c < channels; c++) {
    const channelMean = mean[c];
    let sumDy = 0;
    let sumDyCentred = 0;
    for (let i = c; i < x.length; i += channels) {
      sumDy += dy[i];
      sumDyCentred += dy[i] * (x[i] - channelMean);
    }
    if (localSums) {
      localSums[1 + c] = sumDy;
      localSums[1 + channels + c] = sumDyCentred;
    } else {
      writeGradChannel(sources, c, x.length / channels, sumDy, sumDyCentred, sumDy, sumDyCentred, dx, dGamma, dBeta);
    }
  }
  if (!localSums || !exchange) return;
  // Like SyncBatchNorm: dx needs Σdy and Σdy·x̂ over the whole batch; dγ and dβ stay this
  // replica's share, which the gradient exchange after the backward pass adds up.
  localSums[0] = x.length / channels;
  const all = exchange(localSums);
  for (let c = 0; c < channels; c++) {
    let count = 0;
    let sumDy = 0;
    let sumDyCentred = 0;
    for (const sums of all) {
      count += sums[0];
      sumDy += sums[1 + c];
      sumDyCentred += sums[1 + channels + c];
    }
    writeGradChannel(sources, c, count, sumDy, sumDyCentred, localSums[1 + c], localSums[1 + channels + c], dx, dGamma, dBeta);
  }
}

/** dx for one channel from the batch's sums (`count` values), and dγ, dβ from the local ones. */
function writeGradChannel(
  sources: BatchNormGradSources,
  c: number,
  count: number,
  sumDy: number,
  sumDyCentred: number,
  localSumDy: number,
  localSumDyCentred: number,
  dx: Float32Array,
  dGamma: Float32Array,
  dBeta: Float32Array,
): void {
  const { x, dy, gamma, mean, variance, epsilon } = sources;
  const channels = gamma.length;
  const channelMean = mean[c];
  const inverseStd = 1 / Math.sqrt(variance[c] + epsilon);
  const gammaGrad = sumDyCentred * inverseStd;
  dBeta[c] = localSumDy;
  dGamma[c] = localSumDyCentred * inverseStd;
  const dyScale = gamma[c] * inverseStd;
  const xScale = (-dyScale * inverseStd * gammaGrad) / count;
  const shift = (-dyScale * sumDy) / count - xScale * channelMean;
  for (let i = c; i < x.length; i += channels) dx[i] = dyScale * dy[i] + xScale * x[i] + shift;
}

/**
 * The whole batch's moments from every replica's count, mean and sum of squared deviations
 * (Chan et al.'s pairwise combination), in float64 like the single-thread loop, so they match
 * it to float64 rounding.
 */
function sharedChannelMomentsInto(share: BatchNormExchange, x: Float32Array, channels: number, mean: Float32Array, variance: Float32Array): void {
  const local = new Float64Array(1 + 2 * channels);
  local[0] = x.length / channels;
  const figures = new Float64Array(2);
  for (let c = 0; c < channels; c++) {
    channelMeanAndSquares(x, channels, c, figures);
    local[1 + c] = figures[0];
    local[1 + channels + c] = figures[1];
  }
  const all = share(local);
  const total = all.reduce((n, figures) => n + figures[0], 0);
  for (let c = 0; c < channels; c++) {
    let weighted = 0;
    for (const figures of all) weighted += figures[0] * figures[1 + c];
    const channelMean = weighted / total;
    let squares = 0;
    for (const figures of all) {
      const apart = figures[1 + c] - channelMean;
      squares += figures[1 + channels + c] + figures[0] * apart * apart;
    }
    mean[c] = channelMean;
    variance[c] = squares / total;
  }
}
