import { InputError } from '../errors';
import { elementCount, type NumericArray } from './numericArray';

// IDX (the MNIST format, http://yann.lecun.com/exdb/mnist/): two zero bytes, a type byte, a
// rank byte, one big-endian uint32 per dimension, then the elements big-endian in C order.
const IDX_TYPES: Record<number, { size: number; read: (view: DataView, offset: number) => number; make: (n: number) => NumericArray['values'] }> = {
  0x08: { size: 1, read: (v, o) => v.getUint8(o), make: (n) => new Uint8Array(n) },
  0x09: { size: 1, read: (v, o) => v.getInt8(o), make: (n) => new Int8Array(n) },
  0x0b: { size: 2, read: (v, o) => v.getInt16(o, false), make: (n) => new Int16Array(n) },
  0x0c: { size: 4, read: (v, o) => v.getInt32(o, false), make: (n) => new Int32Array(n) },
  0x0d: { size: 4, read: (v, o) => v.getFloat32(o, false), make: (n) => new Float32Array(n) },
  0x0e: { size: 8, read: (v, o) => v.getFloat64(o, false), make: (n) => new Float64Array(n) },
};

export function parseIdx(bytes: Uint8Array, file: string): NumericArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new InputError(file, 'is not an IDX file (it does not start with two zero bytes)');
  const typeCode = bytes[2];
  const rank = bytes[3];
  const type = IDX_TYPES[typeCode];
  if (!type) throw new InputError(file, `has unknown IDX element type 0x${typeCode.toString(16)}`);
  if (rank === 0) throw new InputError(file, 'has an IDX header with no dimensions');
  const headerSize = 4 + 4 * rank;
  if (bytes.length < headerSize) throw new InputError(file, `is truncated: the IDX header needs ${headerSize} bytes, the file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = elementCount(shape);
  const expectedBytes = headerSize + count * type.size;
  if (bytes.length < expectedBytes) {
    throw new InputError(file, `is truncated: shape [${shape.join(', ')}] needs ${expectedBytes} bytes, the file has ${bytes.length}`);
  }
  const values = type.make(count);
  if (values instanceof Uint8Array) {
    values.set(bytes.subarray(headerSize, expectedBytes));
  } else {
    for (let i = 0; i < count; i++) values[i] = type.read(view, headerSize + i * type.size);
  }
  return { shape, values, unsignedBytes: typeCode === 0x08, integer: typeCode <= 0x0c };
}

/** `train-images-idx3-ubyte.gz` → `train-labels-idx1-ubyte.gz` (MNIST naming, `-` or `.` before idx). */
export const IDX_IMAGES_PATTERN = /images([-.])idx3-ubyte(\.gz)?$/;
export const IDX_LABELS_PATTERN = /labels([-.])idx1-ubyte(\.gz)?$/;

/** Names the labels file of an images file could have, most likely first. */
export function idxLabelNamesFor(imagesName: string): string[] {
  const match = IDX_IMAGES_PATTERN.exec(imagesName);
  if (!match) return [];
  const stem = imagesName.slice(0, match.index);
  const base = `${stem}labels${match[1]}idx1-ubyte`;
  return match[2] ? [`${base}.gz`, base] : [base, `${base}.gz`];
}

/** Names the images file of a labels file could have, most likely first. */
export function idxImageNamesFor(labelsName: string): string[] {
  const match = IDX_LABELS_PATTERN.exec(labelsName);
  if (!match) return [];
  const stem = labelsName.slice(0, match.index);
  const base = `${stem}images${match[1]}idx3-ubyte`;
  return match[2] ? [`${base}.gz`, base] : [base, `${base}.gz`];
}
