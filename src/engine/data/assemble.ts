import { InputError } from '../errors';
import type { Dataset } from './dataset';
import { elementCount, formatShape, type NumericArray } from './numericArray';

export interface DataFiles {
  examples: string;
  labels: string;
}

/**
 * Checks a pair of arrays read from files against the model and turns them into a Dataset.
 * Shapes that differ only by trailing 1s (28×28 vs 28×28×1) or by flattening (28×28 data
 * for a 784-wide input) are the same row-major data, so they are accepted as is.
 */
export function assembleDataset(name: string, examples: NumericArray, labels: NumericArray, files: DataFiles, inputShape: number[], numClasses: number): Dataset {
  const size = examples.shape[0];
  if (examples.shape.length < 2) {
    throw new InputError(files.examples, `has shape ${formatShape(examples.shape)}; expected [examples, ...${formatShape(inputShape)}] for the model's input ${formatShape(inputShape)}`);
  }
  if (size === 0) throw new InputError(files.examples, 'holds no examples');
  const exampleShape = examples.shape.slice(1);
  if (!shapesFit(exampleShape, inputShape)) {
    throw new InputError(files.examples, `holds examples of shape ${formatShape(exampleShape)}, but the model's input is ${formatShape(inputShape)}`);
  }
  const labelCount = labels.shape[0] ?? 0;
  if (labelCount !== size) throw new InputError(files.labels, `has ${labelCount} labels, but ${files.examples} has ${size} examples`);
  return {
    name,
    inputShape,
    numClasses,
    size,
    x: examplesToFloat(examples, files.examples),
    y: labelsToClasses(labels, numClasses, files.labels),
    fromBytes: examples.unsignedBytes,
  };
}

function shapesFit(dataShape: number[], modelShape: number[]): boolean {
  const squeezed = (shape: number[]) => {
    let end = shape.length;
    while (end > 0 && shape[end - 1] === 1) end--;
    return shape.slice(0, end).join('x');
  };
  if (squeezed(dataShape) === squeezed(modelShape)) return true;
  return modelShape.length === 1 && elementCount(dataShape) === modelShape[0];
}

function examplesToFloat(examples: NumericArray, file: string): Float32Array {
  const count = examples.values.length;
  const x = new Float32Array(count);
  const scale = examples.unsignedBytes ? 1 / 255 : 1;
  // Integers below 64 bits are always finite: a plain typed-array loop (the bundled subset's 3 M pixels).
  if (examples.integer && !(examples.values instanceof BigInt64Array)) {
    const values = examples.values;
    for (let i = 0; i < count; i++) x[i] = values[i] * scale;
    return x;
  }
  for (let i = 0; i < count; i++) {
    const value = Number(examples.values[i]) * scale;
    if (!Number.isFinite(value)) throw new InputError(file, `holds a non-finite value (${value}) at element ${i}`);
    x[i] = value;
  }
  return x;
}

/** Class indices from integer labels ([n] or [n, 1]) or one-hot rows ([n, classes]). */
function labelsToClasses(labels: NumericArray, numClasses: number, file: string): Int32Array {
  const [count, ...rest] = labels.shape;
  const width = elementCount(rest);
  const classes = new Int32Array(count);
  if (width === 1) {
    for (let i = 0; i < count; i++) {
      const label = Number(labels.values[i]);
      if (!Number.isInteger(label)) throw new InputError(file, `label ${label} of example ${i} is not a whole number`);
      if (label < 0 || label >= numClasses) {
        throw new InputError(file, `label ${label} of example ${i} is outside 0…${numClasses - 1} (the model has ${numClasses} classes)`);
      }
      classes[i] = label;
    }
    return classes;
  }
  if (rest.length !== 1 || width !== numClasses) {
    throw new InputError(file, `has shape ${formatShape(labels.shape)}; expected [${count}] class indices or [${count}, ${numClasses}] one-hot rows`);
  }
  for (let i = 0; i < count; i++) {
    let best = 0;
    let sum = 0;
    for (let c = 0; c < width; c++) {
      const value = Number(labels.values[i * width + c]);
      sum += value;
      if (value > Number(labels.values[i * width + best])) best = c;
    }
    if (Math.abs(sum - 1) > 1e-3) throw new InputError(file, `row ${i} is not one-hot (its values sum to ${sum})`);
    classes[i] = best;
  }
  return classes;
}
