import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors';
import { formatShape, quoteName, shortName } from './checkConfig';

/**
 * Reads the weight shards of a TF.js layers model with `fs` (`tf.loadLayersModel('file://')`
 * needs tfjs-node, FACTS.md) and checks them before TF.js sees them: every shard path stays in
 * the model's folder, every shard exists, and each group's bytes add up to what its manifest
 * entries need — so a bad file gets a message about the file, not a TF.js stack.
 */

interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

export interface ReadWeights {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
}

export async function readWeightShards(modelFile: string, manifest: unknown): Promise<ReadWeights> {
  const groups = manifestGroups(modelFile, manifest);
  const folder = path.dirname(path.resolve(modelFile));
  const buffers: Buffer[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of groups) {
    const needed = group.weights.reduce((sum, spec) => sum + specByteLength(modelFile, spec), 0);
    // Sizes before contents: a 1.5 GB shard beside a 40 kB model was read whole into memory only to be refused.
    const shards: Array<{ file: string; shardPath: string }> = [];
    let present = 0;
    for (const shardPath of group.paths) {
      const shard = await statShard(modelFile, folder, shardPath);
      shards.push({ file: shard.file, shardPath });
      present += shard.size;
    }
    if (present !== needed) {
      const names = group.paths.map(shortName).join(', ');
      throw new InputError(
        modelFile,
        `weight shard ${names} has ${present} bytes but the weights manifest needs ${needed} (${present < needed ? 'truncated' : 'too long'}, or not this model's weights)`,
      );
    }
    for (const shard of shards) buffers.push(await readShard(modelFile, shard.file, shard.shardPath));
    specs.push(...group.weights);
  }
  const joined = Buffer.concat(buffers);
  return { specs, data: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) };
}

function manifestGroups(modelFile: string, manifest: unknown): ManifestGroup[] {
  if (!Array.isArray(manifest)) throw new InputError(modelFile, '"weightsManifest" must be a list of {paths, weights} groups');
  return manifest.map((group, index) => {
    const { paths, weights } = (group ?? {}) as Partial<ManifestGroup>;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string') || !Array.isArray(weights)) {
      throw new InputError(modelFile, `weightsManifest[${index}] must have a "paths" list of file names and a "weights" list`);
    }
    const bad = weights.findIndex((spec) => typeof spec !== 'object' || spec === null || Array.isArray(spec) || typeof (spec as { name?: unknown }).name !== 'string');
    if (bad >= 0) throw new InputError(modelFile, `weightsManifest[${index}].weights[${bad}] must be a {name, shape, dtype} object`);
    return { paths, weights };
  });
}

async function statShard(modelFile: string, folder: string, shardPath: string): Promise<{ file: string; size: number }> {
  // Shard paths are relative to model.json; anything that leaves its folder could read any file on disk.
  const resolved = path.resolve(folder, shardPath);
  const relative = path.relative(folder, resolved);
  if (path.isAbsolute(shardPath) || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new InputError(modelFile, `weight shard path ${quoteName(shardPath)} leaves the model's folder; shard paths must be file names next to model.json`);
  }
  try {
    const stat = await fs.stat(resolved);
    if (!stat.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    return { file: resolved, size: stat.size };
  } catch (error) {
    throw shardError(modelFile, shardPath, error);
  }
}

async function readShard(modelFile: string, file: string, shardPath: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    throw shardError(modelFile, shardPath, error);
  }
}

function shardError(modelFile: string, shardPath: string, error: unknown): InputError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? String(error)})`;
  return new InputError(modelFile, `weight shard ${quoteName(shardPath)} ${why}; it must sit next to model.json`);
}

function specByteLength(modelFile: string, spec: tf.io.WeightsManifestEntry): number {
  if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new InputError(modelFile, `weight ${quoteName(String(spec.name))} has an invalid shape ${JSON.stringify(spec.shape)?.slice(0, 80)} in the weights manifest`);
  }
  const elements = spec.shape.reduce((a, b) => a * b, 1);
  const quantization = spec.quantization as unknown;
  // TF.js's decoder reads quantization.dtype of whatever is there, null included.
  if (quantization !== undefined && (typeof quantization !== 'object' || quantization === null || Array.isArray(quantization))) {
    throw new InputError(modelFile, `weight ${quoteName(String(spec.name))} has a "quantization" of ${JSON.stringify(quantization)?.slice(0, 40)}, not an object`);
  }
  const storedAs = spec.quantization?.dtype ?? spec.dtype;
  const bytes = BYTES_PER_ELEMENT[storedAs];
  if (bytes === undefined) {
    const shown = typeof storedAs === 'string' ? quoteName(storedAs) : (JSON.stringify(storedAs) ?? 'none').slice(0, 40);
    throw new InputError(modelFile, `weight ${quoteName(String(spec.name))} has an unsupported dtype ${shown}`);
  }
  return elements * bytes;
}

/**
 * Reads the shards of `manifest`, checks every weight the model has against them by name and
 * shape, and assigns them. Returns warnings (non-finite values: the file loads, and the run
 * will show what they do).
 */
export async function loadTfjsWeights(modelFile: string, model: tf.LayersModel, manifest: unknown): Promise<string[]> {
  const { specs, data } = await readWeightShards(modelFile, manifest);
  let decoded: tf.NamedTensorMap;
  try {
    decoded = tf.io.decodeWeights(data, specs);
  } catch (error) {
    throw new InputError(modelFile, `the weights cannot be decoded: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
  try {
    const ownWeights = matchWeights(modelFile, model, decoded, specs);
    model.loadWeights(ownWeights, true);
    return nonFiniteWarnings(ownWeights);
  } finally {
    tf.dispose(decoded);
  }
}

function matchWeights(modelFile: string, model: tf.LayersModel, decoded: tf.NamedTensorMap, specs: tf.io.WeightsManifestEntry[]): tf.NamedTensorMap {
  const matched: tf.NamedTensorMap = {};
  for (const layer of model.layers) {
    for (const weight of layer.weights) {
      const name = weight.originalName;
      const value = decoded[name];
      if (!value) throw new InputError(modelFile, `the weights do not match the model: layer ${quoteName(layer.name)} needs ${quoteName(name)}, which the weights manifest lacks`);
      if (!tf.util.arraysEqual(value.shape, weight.shape as number[])) {
        throw new InputError(
          modelFile,
          `the weights do not match the model: ${quoteName(name)} of layer ${quoteName(layer.name)} is ${formatShape(value.shape)} in the weights but the layer needs ${formatShape(weight.shape)}`,
        );
      }
      // loadWeights would throw a plain Error ("dtype of the new value … must match").
      if (value.dtype !== weight.dtype) {
        throw new InputError(modelFile, `the weights do not match the model: ${quoteName(name)} of layer ${quoteName(layer.name)} is ${value.dtype} in the weights manifest but the layer's is ${weight.dtype}`);
      }
      matched[name] = value;
    }
  }
  // Optimizer state saved with `includeOptimizer` is not the model's; anything else left over is a different model's.
  const extra = specs.find((spec) => spec.group !== 'optimizer' && !(spec.name in matched));
  if (extra) throw new InputError(modelFile, `the weights do not match the model: the weights manifest has ${quoteName(String(extra.name))}, which no layer of the model has`);
  return matched;
}

function nonFiniteWarnings(weights: tf.NamedTensorMap): string[] {
  const warnings: string[] = [];
  for (const [name, tensor] of Object.entries(weights)) {
    const values = tensor.dataSync();
    let nan = 0;
    let infinite = 0;
    for (const v of values) {
      if (Number.isNaN(v)) nan++;
      else if (!Number.isFinite(v)) infinite++;
    }
    if (nan + infinite === 0) continue;
    const counts = [nan ? `${nan} NaN` : '', infinite ? `${infinite} infinite` : ''].filter(Boolean).join(' and ');
    warnings.push(`weight "${name}" has ${counts} value(s) of ${values.length}: training will produce non-finite results`);
  }
  return warnings;
}
