import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors';
import { assembleDataset, type DataFiles } from './assemble';
import type { Dataset, LoadProgress } from './dataset';
import { readDataFile } from './fileBytes';
import { classFolderNames, isImageFileName, loadImageFolder } from './imageFolder';
import { IDX_IMAGES_PATTERN, IDX_LABELS_PATTERN, idxImageNamesFor, idxLabelNamesFor, parseIdx } from './idx';
import { parseNpy } from './npy';

const EXPECTED =
  'expected an IDX images file (*-images-idx3-ubyte[.gz]) with its labels file beside it, an x .npy file with its y .npy beside it, a folder holding one such pair, or a folder with one subfolder of PNG/JPEG images per class';

type PairKind = 'idx' | 'npy';
interface FilePair extends DataFiles {
  kind: PairKind;
}

/**
 * A user's data: a path to an IDX or .npy file (its partner found beside it), a folder with one
 * pair, or a folder of class subfolders of images (`seed` picks the images when there are many).
 */
export async function loadUserData(dataPath: string, inputShape: number[], numClasses: number, seed: number, onProgress?: LoadProgress): Promise<Dataset> {
  const source = await resolveSource(path.resolve(dataPath));
  if (source.kind === 'image-folder') return loadImageFolder(source.root, source.classNames, inputShape, numClasses, seed, onProgress);
  const parse = source.kind === 'idx' ? parseIdx : parseNpy;
  const [examples, labels] = await Promise.all([
    readDataFile(source.examples).then((bytes) => parse(bytes, source.examples)),
    readDataFile(source.labels).then((bytes) => parse(bytes, source.labels)),
  ]);
  return assembleDataset(source.examples, examples, labels, source, inputShape, numClasses);
}

type DataSource = FilePair | { kind: 'image-folder'; root: string; classNames: string[] };

async function resolveSource(target: string): Promise<DataSource> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch {
    throw new InputError(target, 'no such file or folder');
  }
  if (stat.isDirectory()) return sourceInFolder(target);
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

/** A pair among the folder's files wins; otherwise its subfolders are image classes. */
async function sourceInFolder(folder: string): Promise<DataSource> {
  const entries = await fs.readdir(folder, { withFileTypes: true });
  const names = entries.map((entry) => entry.name).sort();
  const siblings = new Set(names);
  const pairs = names.map((name) => pairFor(name, siblings)).filter((p): p is FilePair => p !== undefined);
  const unique = [...new Map(pairs.map((p) => [p.examples, p])).values()];
  if (unique.length === 0) {
    const classNames = classFolderNames(entries);
    if (classNames.length > 0) return { kind: 'image-folder', root: folder, classNames };
    if (names.some(isImageFileName)) {
      throw new InputError(folder, 'holds images but no class folders: put each class\'s images in a subfolder named for the class (root/<class>/*.png)');
    }
    throw new InputError(folder, `holds no data files: ${EXPECTED}`);
  }
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
