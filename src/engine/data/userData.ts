import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors';
import { assembleDataset, type DataFiles } from './assemble';
import type { Dataset } from './dataset';
import { readDataFile } from './fileBytes';
import { IDX_IMAGES_PATTERN, IDX_LABELS_PATTERN, idxImageNamesFor, idxLabelNamesFor, parseIdx } from './idx';
import { parseNpy } from './npy';

const EXPECTED =
  'expected an IDX images file (*-images-idx3-ubyte[.gz]) with its labels file beside it, an x .npy file with its y .npy beside it, or a folder holding one such pair (image folders per class are not supported yet)';

type PairKind = 'idx' | 'npy';
interface FilePair extends DataFiles {
  kind: PairKind;
}

/** A user's data: a path to an IDX or .npy file (its partner found beside it) or a folder with one pair. */
export async function loadUserData(dataPath: string, inputShape: number[], numClasses: number): Promise<Dataset> {
  const pair = await resolvePair(path.resolve(dataPath));
  const parse = pair.kind === 'idx' ? parseIdx : parseNpy;
  const [examples, labels] = await Promise.all([
    readDataFile(pair.examples).then((bytes) => parse(bytes, pair.examples)),
    readDataFile(pair.labels).then((bytes) => parse(bytes, pair.labels)),
  ]);
  return assembleDataset(pair.examples, examples, labels, pair, inputShape, numClasses);
}

async function resolvePair(target: string): Promise<FilePair> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch {
    throw new InputError(target, 'no such file or folder');
  }
  if (stat.isDirectory()) return pairInFolder(target);
  const folder = path.dirname(target);
  const name = path.basename(target);
  const siblings = new Set(await fs.readdir(folder));
  const pair = pairFor(name, siblings);
  if (!pair) {
    const partners = partnerNames(name);
    if (partners.length === 0) throw new InputError(target, `is not a recognised data file: ${EXPECTED}`);
    throw new InputError(target, `has no partner file beside it (looked for ${partners.join(', ')})`);
  }
  return { kind: pair.kind, examples: path.join(folder, pair.examples), labels: path.join(folder, pair.labels) };
}

async function pairInFolder(folder: string): Promise<FilePair> {
  const names = (await fs.readdir(folder)).sort();
  const siblings = new Set(names);
  const pairs = names.map((name) => pairFor(name, siblings)).filter((p): p is FilePair => p !== undefined);
  const unique = [...new Map(pairs.map((p) => [p.examples, p])).values()];
  if (unique.length === 0) throw new InputError(folder, `holds no data files: ${EXPECTED}`);
  // Several pairs (say train and t10k): take the training set when exactly one says so.
  const chosen = unique.length === 1 ? unique : unique.filter((p) => /train/i.test(p.examples));
  if (chosen.length !== 1) {
    throw new InputError(folder, `holds several data sets (${unique.map((p) => p.examples).join(', ')}); pass the path of one of them`);
  }
  return { ...chosen[0], examples: path.join(folder, chosen[0].examples), labels: path.join(folder, chosen[0].labels) };
}

/** The pair a file name belongs to, given the names beside it; undefined when it has no partner. */
function pairFor(name: string, siblings: Set<string>): FilePair | undefined {
  const partner = partnerNames(name).find((candidate) => siblings.has(candidate));
  if (!partner) return undefined;
  const kind: PairKind = name.endsWith('.npy') ? 'npy' : 'idx';
  return isExamplesName(name) ? { kind, examples: name, labels: partner } : { kind, examples: partner, labels: name };
}

function isExamplesName(name: string): boolean {
  if (IDX_IMAGES_PATTERN.test(name)) return true;
  if (IDX_LABELS_PATTERN.test(name)) return false;
  return /^x/i.test(name) || /images/i.test(name);
}

/** Names the partner of a data file could have: labels for examples, examples for labels. */
function partnerNames(name: string): string[] {
  const idxPartners = [...idxLabelNamesFor(name), ...idxImageNamesFor(name)];
  if (idxPartners.length > 0) return idxPartners;
  if (!name.endsWith('.npy')) return [];
  const stem = name.slice(0, -'.npy'.length);
  const partners: string[] = [];
  // x.npy ↔ y.npy, X_train.npy ↔ y_train.npy / Y_train.npy, images.npy ↔ labels.npy.
  if (/^x/i.test(stem)) partners.push(`y${stem.slice(1)}.npy`, `Y${stem.slice(1)}.npy`);
  if (/^y/i.test(stem)) partners.push(`x${stem.slice(1)}.npy`, `X${stem.slice(1)}.npy`);
  if (/images/i.test(stem)) partners.push(`${stem.replace(/images/i, 'labels')}.npy`);
  if (/labels/i.test(stem)) partners.push(`${stem.replace(/labels/i, 'images')}.npy`);
  return partners;
}
