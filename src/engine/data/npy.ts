import { InputError } from '../errors';
import { elementCount, type NumericArray } from './numericArray';

// NPY format (numpy.lib.format): magic "\x93NUMPY", version bytes, a little-endian header
// length (uint16 in version 1, uint32 in 2 and 3), then a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (100, 28, 28), }, then the raw elements.
const NPY_MAGIC = '\x93NUMPY';

type Values = NumericArray['values'];
const NPY_TYPES: Record<string, { size: number; make: (buffer: ArrayBuffer, count: number) => Values; integer: boolean }> = {
  u1: { size: 1, make: (b, n) => new Uint8Array(b, 0, n), integer: true },
  i1: { size: 1, make: (b, n) => new Int8Array(b, 0, n), integer: true },
  u2: { size: 2, make: (b, n) => new Uint16Array(b, 0, n), integer: true },
  i2: { size: 2, make: (b, n) => new Int16Array(b, 0, n), integer: true },
  i4: { size: 4, make: (b, n) => new Int32Array(b, 0, n), integer: true },
  i8: { size: 8, make: (b, n) => new BigInt64Array(b, 0, n), integer: true },
  f4: { size: 4, make: (b, n) => new Float32Array(b, 0, n), integer: false },
  f8: { size: 8, make: (b, n) => new Float64Array(b, 0, n), integer: false },
  b1: { size: 1, make: (b, n) => new Uint8Array(b, 0, n), integer: true },
};

export function parseNpy(bytes: Uint8Array, file: string): NumericArray {
  const magic = String.fromCharCode(...bytes.subarray(0, NPY_MAGIC.length));
  if (magic !== NPY_MAGIC) throw new InputError(file, 'is not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthSize = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthSize) throw new InputError(file, 'is truncated inside the .npy header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lengthSize + headerLength;
  if (bytes.length < dataStart) throw new InputError(file, 'is truncated inside the .npy header');
  const header = new TextDecoder().decode(bytes.subarray(8 + lengthSize, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortranOrder = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortranOrder === undefined || shapeText === undefined) {
    throw new InputError(file, `has a .npy header numpy did not write: ${header.trim()}`);
  }
  if (fortranOrder === 'True') throw new InputError(file, 'is stored in Fortran order; save it in C order (numpy.ascontiguousarray)');
  const byteOrder = descr[0];
  const type = NPY_TYPES[descr.slice(1)];
  if (!type || (byteOrder === '>' && type.size > 1)) {
    throw new InputError(file, `has element type '${descr}'; supported: little-endian float32/float64, uint8, int8, int16, uint16, int32, int64, bool`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const count = elementCount(shape);
  const dataBytes = count * type.size;
  if (bytes.length < dataStart + dataBytes) {
    throw new InputError(file, `is truncated: shape [${shape.join(', ')}] of '${descr}' needs ${dataBytes} data bytes, the file has ${bytes.length - dataStart}`);
  }
  // Copy into a fresh buffer: typed-array views need an aligned offset, the header rarely gives one.
  const aligned = new Uint8Array(dataBytes);
  aligned.set(bytes.subarray(dataStart, dataStart + dataBytes));
  return { shape, values: type.make(aligned.buffer, count), unsignedBytes: descr.slice(1) === 'u1', integer: type.integer };
}
