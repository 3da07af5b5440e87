/** An n-dimensional array read from a data file, before it is fitted to a model. */
export interface NumericArray {
  shape: number[];
  values: Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Float32Array | Float64Array | BigInt64Array;
  /** Unsigned bytes: image pixels, scaled by 1/255 when used as inputs. */
  unsignedBytes: boolean;
  /** Integer element type (labels must be integers, or integral floats, or one-hot rows). */
  integer: boolean;
}

export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function formatShape(shape: number[]): string {
  return `[${shape.join(', ')}]`;
}
