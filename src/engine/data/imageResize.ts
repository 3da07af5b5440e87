import type { RgbaImage } from './imageDecode';

// ITU-R BT.601 luma, as PIL's convert('L'), libjpeg and tf.image.rgb_to_grayscale weigh RGB.
const LUMA_RED = 0.299;
const LUMA_GREEN = 0.587;
const LUMA_BLUE = 0.114;

/**
 * Writes `image` as `height × width × channels` floats in [0, 1] into `out` at `offset`.
 * Bilinear with half-pixel centres and no antialiasing: what Keras's image_dataset_from_directory
 * does by default (tf.image.resize, interpolation='bilinear'), so the model sees the inputs it
 * would see in Keras; nearest would shift and block-alias small images. Channels: 1 is BT.601
 * luma, 3 drops alpha (as decode_image(channels=3) does), 4 keeps it; grey sources arrive as
 * R = G = B from the decoders, so grey → RGB needs no step of its own.
 */
export function writeResizedPixels(image: RgbaImage, height: number, width: number, channels: 1 | 3 | 4, out: Float32Array, offset: number): void {
  const rows = interpolationTaps(height, image.height);
  const columns = interpolationTaps(width, image.width);
  const { rgba } = image;
  const rowStride = image.width * 4;
  let target = offset;
  for (let y = 0; y < height; y++) {
    const top = rows.lower[y] * rowStride;
    const bottom = rows.upper[y] * rowStride;
    const dy = rows.weight[y];
    for (let x = 0; x < width; x++) {
      const left = columns.lower[x] * 4;
      const right = columns.upper[x] * 4;
      const dx = columns.weight[x];
      const w00 = (1 - dy) * (1 - dx);
      const w01 = (1 - dy) * dx;
      const w10 = dy * (1 - dx);
      const w11 = dy * dx;
      const sample = (channel: number) =>
        (w00 * rgba[top + left + channel] + w01 * rgba[top + right + channel] + w10 * rgba[bottom + left + channel] + w11 * rgba[bottom + right + channel]) / 255;
      if (channels === 1) {
        out[target++] = LUMA_RED * sample(0) + LUMA_GREEN * sample(1) + LUMA_BLUE * sample(2);
      } else {
        for (let c = 0; c < channels; c++) out[target++] = sample(c);
      }
    }
  }
}

/** Per output index along one axis: the two source indices and the weight of the upper one. */
function interpolationTaps(outSize: number, inSize: number): { lower: Int32Array; upper: Int32Array; weight: Float32Array } {
  const lower = new Int32Array(outSize);
  const upper = new Int32Array(outSize);
  const weight = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const source = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), inSize - 1);
    lower[i] = Math.floor(source);
    upper[i] = Math.min(lower[i] + 1, inSize - 1);
    weight[i] = source - lower[i];
  }
  return { lower, upper, weight };
}
