import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makePythonCase, type PythonSeed } from './pythonMutate';

/**
 * Deterministic mutations of the shipped model files. A case is a function of (seed, index)
 * alone, so any failure replays from its index without the cases before it.
 */

// ──── randomness ────

/** mulberry32: small, fast, and the same sequence on every platform. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(low: number, high: number): number {
    return low + this.int(Math.max(1, high - low));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

function caseSeed(seed: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ index, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ──── the seed corpus ────

export type SeedFormat = 'keras2' | 'keras3' | 'tfjs';

export interface SeedModel {
  /** Repository-relative path of the model file, e.g. samples/healthy-small-cnn/tfjs/model.json. */
  name: string;
  format: SeedFormat;
  functional: boolean;
  text: string;
  value: Json;
  /** Shard files next to a TF.js model.json, by file name. */
  shards: Record<string, Buffer>;
}

const SAMPLE_DIRS = ['healthy-small-cnn', 'vanishing-sigmoid-10conv', 'healthy-relu-bn-10conv', 'exploding-large-init'];
const FIXTURE_MODELS = ['keras2-functional.json', 'keras3-functional.json', 'keras2-legacy-sequential.json', 'exponential-activation.json'];

export function loadCorpus(root: string): SeedModel[] {
  const files: string[] = [];
  for (const dir of SAMPLE_DIRS) files.push(`samples/${dir}/keras2.json`, `samples/${dir}/keras3.json`, `samples/${dir}/tfjs/model.json`);
  for (const name of FIXTURE_MODELS) files.push(`test/fixtures/models/${name}`);
  return files.map((name) => {
    const text = readFileSync(path.join(root, name), 'utf8');
    const value = JSON.parse(text) as Json;
    const format: SeedFormat = name.endsWith('model.json') ? 'tfjs' : /keras3/.test(name) ? 'keras3' : 'keras2';
    const shards: Record<string, Buffer> = {};
    if (format === 'tfjs') {
      for (const group of (value as { weightsManifest: Array<{ paths: string[] }> }).weightsManifest) {
        for (const p of group.paths) shards[p] = readFileSync(path.join(root, path.dirname(name), p));
      }
    }
    return { name, format, functional: /"inbound_nodes"/.test(text), text, value, shards };
  });
}

// ──── JSON with the things JSON.stringify cannot write ────

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json } | Raw;

/** Text emitted as is: NaN literals, 10^5-deep nesting, 10^6-element arrays. */
export class Raw {
  constructor(readonly text: string) {}
}

/** A key written twice: the first copy gets `DUPLICATE` prepended and is emitted without it. */
const DUPLICATE = '\u0001dup\u0001';

function emit(value: Json | undefined, indent: string | undefined, depth = 0): string {
  if (value instanceof Raw) return value.text;
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const pad = indent === undefined ? '' : '\n' + indent.repeat(depth + 1);
  const end = indent === undefined ? '' : '\n' + indent.repeat(depth);
  const sep = indent === undefined ? ':' : ': ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[${value.map((v) => pad + emit(v, indent, depth + 1)).join(',')}${end}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{${entries.map(([k, v]) => `${pad}${JSON.stringify(k.replace(DUPLICATE, ''))}${sep}${emit(v, indent, depth + 1)}`).join(',')}${end}}`;
}

// ──── paths into a JSON tree ────

type Key = string | number;
type Container = Json[] | { [key: string]: Json };

function isContainer(value: Json | undefined): value is Container {
  return typeof value === 'object' && value !== null && !(value instanceof Raw);
}

function allPaths(root: Json): Key[][] {
  const out: Key[][] = [];
  const walk = (value: Json, at: Key[]): void => {
    if (!isContainer(value)) return;
    const keys: Key[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
    for (const key of keys) {
      const next = [...at, key];
      out.push(next);
      walk((value as Record<Key, Json>)[key], next);
    }
  };
  walk(root, []);
  return out;
}

function getAt(root: Json, at: Key[]): Json | undefined {
  let value: Json | undefined = root;
  for (const key of at) value = isContainer(value) ? (value as Record<Key, Json>)[key] : undefined;
  return value;
}

function setAt(root: Json, at: Key[], replacement: Json): void {
  const parent = getAt(root, at.slice(0, -1));
  if (isContainer(parent)) (parent as Record<Key, Json>)[at[at.length - 1]] = replacement;
}

function deleteAt(root: Json, at: Key[]): void {
  const parent = getAt(root, at.slice(0, -1));
  const key = at[at.length - 1];
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else if (isContainer(parent)) delete (parent as Record<string, Json>)[key];
}

/** The layer objects of a seed's model config (Sequential or Functional, any wrapper). */
function layerList(root: Json): Array<Record<string, Json>> {
  const top = root as Record<string, Json>;
  const holder = (top.modelTopology ?? top) as Record<string, Json>;
  const model = (holder.model_config ?? holder) as Record<string, Json>;
  const config = model.config as Json;
  const layers = Array.isArray(config) ? config : isContainer(config) ? (config as Record<string, Json>).layers : undefined;
  return Array.isArray(layers) ? (layers.filter((l) => isContainer(l) && !Array.isArray(l)) as Array<Record<string, Json>>) : [];
}

// ──── cases ────

export interface FuzzCase {
  index: number;
  seed: string;
  kind: MutationKind;
  /** What was done, in a few words (the path and the value). */
  detail: string;
  /** File name (in the case's folder) → bytes; 'folder' makes a directory; 'sparse:N' a sparse file of N bytes. */
  files: Record<string, Buffer | 'folder' | `sparse:${number}`>;
  /** The model file the run is given, relative to the case's folder. */
  model: string;
}

export const MUTATION_KINDS = [
  'delete-key',
  'duplicate-key',
  'wrong-type',
  'extreme-number',
  'nan-literal',
  'deep-nesting',
  'huge-array',
  'unicode-name',
  'duplicate-layer-name',
  'inbound-cycle',
  'truncate',
  'byte-flip',
  'shard-corrupt',
  'manifest-disagree',
  'combined',
  'python-source',
] as const;
export type MutationKind = (typeof MUTATION_KINDS)[number];

/** Relative frequency; the expensive kinds (10^5-deep, 10^6 elements) are rarer. */
const WEIGHT: Record<MutationKind, number> = {
  'delete-key': 10,
  'duplicate-key': 6,
  'wrong-type': 12,
  'extreme-number': 12,
  'nan-literal': 4,
  'deep-nesting': 2,
  'huge-array': 2,
  'unicode-name': 5,
  'duplicate-layer-name': 4,
  'inbound-cycle': 5,
  truncate: 8,
  'byte-flip': 8,
  'shard-corrupt': 8,
  'manifest-disagree': 10,
  combined: 6,
  // Drawn by its own share (makeCase's pythonShare), never by these weights.
  'python-source': 0,
};

function applicable(kind: MutationKind, seed: SeedModel): boolean {
  if (kind === 'python-source') return false;
  if (kind === 'inbound-cycle') return seed.functional;
  if (kind === 'shard-corrupt' || kind === 'manifest-disagree') return seed.format === 'tfjs';
  return true;
}

/**
 * One case. With a Python corpus, a `pythonShare` of the cases (all of them with `--only
 * python-source`) mutate a PyTorch file instead; that choice draws from a stream of its own, so the
 * JSON cases of a seed stay the ones they were before Python files joined.
 */
export function makeCase(
  corpus: SeedModel[],
  seed: number,
  index: number,
  only?: MutationKind,
  python?: { corpus: PythonSeed[]; share: number },
): FuzzCase {
  if (python && python.corpus.length > 0) {
    const pythonRng = new Rng(caseSeed(seed ^ 0x5eed, index));
    if (only === 'python-source' || (only === undefined && pythonRng.next() < python.share)) return makePythonCase(python.corpus, pythonRng, index);
  }
  const rng = new Rng(caseSeed(seed, index));
  const model = rng.pick(corpus);
  const kinds = MUTATION_KINDS.filter((k) => applicable(k, model) && (only === undefined || k === only));
  const source = kinds.length > 0 ? kinds : MUTATION_KINDS.filter((k) => applicable(k, model));
  const total = source.reduce((s, k) => s + WEIGHT[k], 0);
  let roll = rng.next() * total;
  let kind = source[source.length - 1];
  for (const k of source) {
    roll -= WEIGHT[k];
    if (roll < 0) {
      kind = k;
      break;
    }
  }
  const state = new CaseState(model, rng);
  const detail = MUTATORS[kind](state);
  return { index, seed: model.name, kind, detail, files: state.files(), model: path.basename(model.name) };
}

/** The mutable copy of one seed: its JSON tree (until it is turned into text), its text, its shards. */
class CaseState {
  tree: Json;
  text: Buffer | undefined;
  shards: Record<string, Buffer | 'folder' | `sparse:${number}` | undefined>;
  indent: string | undefined;
  constructor(
    readonly seed: SeedModel,
    readonly rng: Rng,
  ) {
    this.tree = structuredClone(seed.value);
    this.shards = { ...seed.shards };
    this.indent = rng.pick([undefined, ' ', '  ']);
  }
  /** The model file's bytes as mutated so far (emitting the tree once). */
  bytes(): Buffer {
    this.text ??= Buffer.from(emit(this.tree, this.indent), 'utf8');
    return this.text;
  }
  files(): FuzzCase['files'] {
    const out: FuzzCase['files'] = { [path.basename(this.seed.name)]: this.bytes() };
    for (const [name, bytes] of Object.entries(this.shards)) if (bytes !== undefined) out[name] = bytes;
    return out;
  }
  /** A random path, half the time inside a layer's config (where most of the loader's work is). */
  path(filter: (value: Json | undefined, at: Key[]) => boolean = () => true): Key[] | undefined {
    const paths = allPaths(this.tree).filter((p) => filter(getAt(this.tree, p), p));
    if (paths.length === 0) return undefined;
    const inLayers = paths.filter((p) => p.includes('layers') || p.includes('weightsManifest'));
    return this.rng.pick(inLayers.length > 0 && this.rng.chance(0.5) ? inLayers : paths);
  }
}

function show(at: Key[]): string {
  const joined = at.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');
  return joined.length > 120 ? `…${joined.slice(-117)}` : joined || '(root)';
}

function brief(value: Json): string {
  const text = value instanceof Raw ? value.text : JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}… (${text.length} chars)` : text;
}

const EXTREME_NUMBERS = [0, -0, -1, -3, 1e9, -1e9, 2 ** 31, 2 ** 32 + 1, 2 ** 53 + 1, 1e308, -1e308, 1e-320, 0.5, 2.5, -0.5, 65536, 1e6, 123456789];
const NON_FINITE = ['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '-NaN'];

function otherTypeValue(rng: Rng, original: Json | undefined): Json {
  const choices: Json[] = [null, true, false, 0, -1, '', 'relu', 'x', [], [null], {}, { class_name: 'Dense' }, [1, 2], '3', 'None'];
  let value = rng.pick(choices);
  for (let i = 0; i < 4 && typeof value === typeof original && Array.isArray(value) === Array.isArray(original); i++) value = rng.pick(choices);
  return value;
}

const UNICODE_NAMES = [
  'conv😀2d',
  'слой',
  'שכבה',
  'e\u0301\u0301\u0301',
  'zero\u200bwidth',
  'nul\u0000byte',
  'lone\ud800surrogate',
  'tail\udfff',
  'a/b/c',
  '../escape',
  'line\nbreak',
  '"quoted"',
  '',
  ' ',
  '\u202eevil',
  'x'.repeat(100_000),
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '\ufeffbom',
];

function deepNesting(rng: Rng): Raw {
  const depth = rng.pick([100_000, 100_000, 20_000, 5_000, 1_000]);
  return rng.chance(0.5) ? new Raw('['.repeat(depth) + '1' + ']'.repeat(depth)) : new Raw('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
}

function hugeArray(rng: Rng): Raw {
  const length = rng.pick([1_000_000, 1_000_000, 100_000]);
  const item = rng.pick(['1', '0', 'null', '28', '"relu"', '-1']);
  return new Raw('[' + new Array<string>(length).fill(item).join(',') + ']');
}

/** Structural mutations edit the tree; the text is emitted afterwards. */
const MUTATORS: Record<MutationKind, (s: CaseState) => string> = {
  'delete-key': (s) => {
    const at = s.path();
    if (!at) return 'nothing to delete';
    deleteAt(s.tree, at);
    return `deleted ${show(at)}`;
  },
  'duplicate-key': (s) => {
    const at = s.path((v, p) => typeof p[p.length - 1] === 'string');
    if (!at) return 'no key';
    const parent = getAt(s.tree, at.slice(0, -1)) as Record<string, Json>;
    const key = String(at[at.length - 1]);
    const other = otherTypeValue(s.rng, parent[key]);
    // Rebuilt so the duplicate comes first and the original after it, as a hand edit would leave it.
    const rebuilt: Record<string, Json> = {};
    for (const [k, v] of Object.entries(parent)) {
      if (k === key) rebuilt[DUPLICATE + k] = s.rng.chance(0.5) ? other : structuredClone(v as never);
      rebuilt[k] = v;
    }
    if (at.length === 1) s.tree = rebuilt;
    else setAt(s.tree, at.slice(0, -1), rebuilt);
    return `duplicated key ${show(at)}`;
  },
  'wrong-type': (s) => {
    const at = s.path();
    if (!at) return 'no value';
    const value = otherTypeValue(s.rng, getAt(s.tree, at));
    setAt(s.tree, at, value);
    return `${show(at)} = ${brief(value)}`;
  },
  'extreme-number': (s) => {
    const at = s.path((v) => typeof v === 'number' || s.rng.chance(0.05)) ?? s.path();
    if (!at) return 'no number';
    const value = s.rng.pick(EXTREME_NUMBERS);
    setAt(s.tree, at, value);
    return `${show(at)} = ${value}`;
  },
  'nan-literal': (s) => {
    const at = s.path((v) => typeof v === 'number') ?? s.path();
    if (!at) return 'no number';
    const literal = s.rng.pick(NON_FINITE);
    setAt(s.tree, at, new Raw(literal));
    return `${show(at)} = ${literal}`;
  },
  'deep-nesting': (s) => {
    const at = s.path();
    if (!at) return 'no value';
    const value = deepNesting(s.rng);
    setAt(s.tree, at, value);
    return `${show(at)} = ${brief(value)}`;
  },
  'huge-array': (s) => {
    const at = s.path((v) => Array.isArray(v)) ?? s.path();
    if (!at) return 'no value';
    const value = hugeArray(s.rng);
    setAt(s.tree, at, value);
    return `${show(at)} = ${brief(value)}`;
  },
  'unicode-name': (s) => {
    const layers = layerList(s.tree);
    const name = s.rng.pick(UNICODE_NAMES);
    const layer = layers.length > 0 ? s.rng.pick(layers) : undefined;
    const config = layer && isContainer(layer.config) && !Array.isArray(layer.config) ? (layer.config as Record<string, Json>) : undefined;
    if (!config) return 'no layer';
    const old = config.name;
    config.name = name;
    if (layer && 'name' in layer) layer.name = name;
    // Keeps functional references consistent half the time, so both the rename and the dangling reference are tried.
    if (s.rng.chance(0.5) && typeof old === 'string') renameReferences(s.tree, old, name);
    return `layer ${JSON.stringify(old)} renamed ${brief(name)}`;
  },
  'duplicate-layer-name': (s) => {
    const layers = layerList(s.tree).filter((l) => isContainer(l.config) && !Array.isArray(l.config));
    if (layers.length < 2) return 'fewer than two layers';
    const a = s.rng.int(layers.length);
    let b = s.rng.int(layers.length - 1);
    if (b >= a) b++;
    const name = (layers[a].config as Record<string, Json>).name;
    (layers[b].config as Record<string, Json>).name = name;
    if ('name' in layers[b]) layers[b].name = name;
    return `layer #${b} named like #${a} (${JSON.stringify(name)})`;
  },
  'inbound-cycle': (s) => {
    const layers = layerList(s.tree);
    const names = layers.map((l) => (l.config as Record<string, Json> | undefined)?.name ?? l.name);
    const refs = allPaths(s.tree).filter((p) => {
      const v = getAt(s.tree, p);
      return typeof v === 'string' && (p.includes('inbound_nodes') || p.includes('keras_history')) && names.includes(v);
    });
    if (refs.length === 0) return 'no inbound references';
    const at = s.rng.pick(refs);
    const layerIndex = Number(at[at.indexOf('layers') + 1]);
    const choice = s.rng.int(4);
    // Itself, a later layer (a cycle or a forward reference), an absent layer, or a node index that does not exist.
    if (choice === 0) setAt(s.tree, at, names[layerIndex] as Json);
    else if (choice === 1) setAt(s.tree, at, names[s.rng.range(layerIndex, names.length)] as Json);
    else if (choice === 2) setAt(s.tree, at, 'no_such_layer');
    else setAt(s.tree, [...at.slice(0, -1), Number(at[at.length - 1]) + 1], s.rng.pick([1, 7, -1, 1e9]));
    return `${show(at)} → ${['itself', 'a later layer', 'an absent layer', 'a bad node index'][choice]} (${brief(getAt(s.tree, at) as Json)})`;
  },
  truncate: (s) => {
    const bytes = s.bytes();
    const length = prefixLength(s.rng, bytes);
    s.text = bytes.subarray(0, length);
    return `model file cut to ${length} of ${bytes.length} bytes`;
  },
  'byte-flip': (s) => {
    const bytes = Buffer.from(s.bytes());
    const count = s.rng.pick([1, 1, 2, 4, 16]);
    const what: string[] = [];
    for (let i = 0; i < count; i++) {
      const at = s.rng.int(bytes.length);
      const how = s.rng.int(4);
      if (how === 0) bytes[at] ^= 1 << s.rng.int(8);
      else if (how === 1) bytes[at] = s.rng.int(256);
      else if (how === 2) bytes[at] = s.rng.pick([0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x00, 0xff, 0x5c, 0x30, 0x2d]);
      else bytes[at] = s.rng.pick([0x80, 0xc3, 0xe2, 0xf0]); // a lone UTF-8 lead or continuation byte
      what.push(String(at));
    }
    s.text = bytes;
    return `model file bytes changed at ${what.join(', ')}`;
  },
  'shard-corrupt': (s) => {
    const names = Object.keys(s.seed.shards);
    const name = s.rng.pick(names);
    const original = s.seed.shards[name];
    const how = s.rng.int(8);
    if (how === 0) {
      const length = prefixLength(s.rng, original);
      s.shards[name] = original.subarray(0, length);
      return `${name} cut to ${length} of ${original.length} bytes`;
    }
    if (how === 1) {
      const extra = s.rng.pick([1, 3, 4, 4096, original.length]);
      s.shards[name] = Buffer.concat([original, Buffer.alloc(extra, 0x3f)]);
      return `${name} grown by ${extra} bytes`;
    }
    if (how === 2) {
      const bytes = Buffer.from(original);
      const count = s.rng.pick([1, 8, 256, bytes.length]);
      for (let i = 0; i < count; i++) bytes[s.rng.int(bytes.length)] = s.rng.int(256);
      s.shards[name] = bytes;
      return `${count} random bytes in ${name}`;
    }
    if (how === 3) {
      // 0xff… is NaN, 0x7f800000 is +Infinity: the file loads with a warning.
      const pattern = s.rng.pick([0xff, 0x7f]);
      s.shards[name] = Buffer.alloc(original.length, pattern);
      return `${name} filled with 0x${pattern.toString(16)}`;
    }
    if (how === 4) {
      s.shards[name] = undefined;
      return `${name} missing`;
    }
    if (how === 5) {
      s.shards[name] = 'folder';
      return `${name} is a folder`;
    }
    if (how === 6) {
      const size = s.rng.pick([1.5 * 1024 ** 3, 3 * 1024 ** 3, 64 * 1024 ** 3]);
      s.shards[name] = `sparse:${size}`;
      return `${name} is a sparse file of ${size} bytes`;
    }
    s.shards[name] = Buffer.alloc(0);
    return `${name} is empty`;
  },
  'manifest-disagree': (s) => {
    const manifest = (s.tree as Record<string, Json>).weightsManifest as Array<Record<string, Json>>;
    const group = s.rng.pick(manifest);
    const weights = group.weights as Array<Record<string, Json>>;
    const spec = s.rng.pick(weights);
    const how = s.rng.int(10);
    if (how === 0) {
      const shape = spec.shape as number[];
      const variants: Json[] = [[...shape].reverse(), [...shape, 1], shape.slice(1), [0], [-1, ...shape.slice(1)], [1e9, 1e9], [1e5, 1e5, 1e5], [], [2.5], [null], 'abc', [new Raw('NaN')], [2 ** 31, 2]];
      spec.shape = s.rng.pick(variants);
      return `weight ${spec.name} shape = ${brief(spec.shape)}`;
    }
    if (how === 1) {
      spec.dtype = s.rng.pick(['int32', 'float16', 'bool', 'uint8', 'complex64', 'string', 'float64', '', 7]);
      return `weight ${spec.name} dtype = ${brief(spec.dtype)}`;
    }
    if (how === 2) {
      spec.name = s.rng.pick(['renamed/kernel', weights[0].name, '', 7, null]);
      return `weight renamed ${brief(spec.name)}`;
    }
    if (how === 3) {
      weights.splice(weights.indexOf(spec), 1);
      return `weight ${spec.name} removed from the manifest`;
    }
    if (how === 4) {
      weights.push(structuredClone(spec as never));
      return `weight ${spec.name} listed twice`;
    }
    if (how === 5) {
      group.paths = s.rng.pick([['missing.bin'], ['../weights.bin'], ['/etc/hostname'], [''], ['.'], ['weights.bin', 'weights.bin'], [], [7], 'weights.bin', ['weights.bin\u0000x'], ['sub/../weights.bin']]);
      return `paths = ${brief(group.paths)}`;
    }
    if (how === 6) {
      spec.quantization = s.rng.pick<Json>([
        { dtype: 'uint8', scale: 0.01, min: -1 },
        { dtype: 'uint16', scale: 0.01, min: -1 },
        { dtype: 'float16' },
        { dtype: 'uint8' },
        { dtype: 'int4' },
        null,
      ]);
      return `weight ${spec.name} quantization = ${brief(spec.quantization)}`;
    }
    if (how === 7) {
      manifest.push(structuredClone(group as never));
      return 'a weights group listed twice';
    }
    if (how === 8) {
      weights.reverse();
      return 'weights listed in reverse order';
    }
    spec.group = s.rng.pick(['optimizer', 'model', 7]);
    return `weight ${spec.name} group = ${brief(spec.group)}`;
  },
  combined: (s) => {
    const kinds = MUTATION_KINDS.filter((k) => k !== 'combined' && k !== 'truncate' && k !== 'byte-flip' && applicable(k, s.seed) && WEIGHT[k] > 2);
    const parts: string[] = [];
    for (let i = 0; i < s.rng.range(2, 5); i++) parts.push(MUTATORS[s.rng.pick(kinds)](s));
    if (s.rng.chance(0.2)) parts.push(MUTATORS[s.rng.pick(['truncate', 'byte-flip'] as const)](s));
    return parts.join('; ');
  },
  'python-source': () => {
    throw new Error('python-source cases come from makePythonCase, not from a JSON seed');
  },
};

function renameReferences(tree: Json, from: string, to: string): void {
  for (const at of allPaths(tree)) {
    if (getAt(tree, at) === from && (at.includes('inbound_nodes') || at.includes('keras_history') || at.includes('input_layers') || at.includes('output_layers'))) {
      setAt(tree, at, to);
    }
  }
}

/**
 * One length per class of prefix: nothing, a byte, a few, inside the first line, each quarter,
 * just before a structural character, and one or a few bytes short of the whole.
 */
function prefixLength(rng: Rng, bytes: Buffer): number {
  const n = bytes.length;
  const classes = [
    () => 0,
    () => 1,
    () => rng.range(2, 16),
    () => rng.range(16, 256),
    () => rng.range(Math.floor(n / 4), Math.floor(n / 2)),
    () => rng.range(Math.floor(n / 2), Math.floor((3 * n) / 4)),
    () => rng.range(Math.floor((3 * n) / 4), n - 16),
    () => {
      const at = rng.int(n);
      const structural = bytes.indexOf(rng.pick([0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x22]), at);
      return structural < 0 ? at : structural + rng.int(2);
    },
    () => n - rng.range(2, 16),
    () => n - 1,
  ];
  return Math.max(0, Math.min(n - 1, rng.pick(classes)()));
}
