import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FuzzCase } from './mutate';
import type { Rng } from './mutate';

/**
 * Mutations of the shipped PyTorch model files (`samples/pytorch/*.py`): line edits, numbers,
 * truncation, byte flips, swapped layer classes, and hostile code at import (raising, exiting,
 * killing the interpreter, printing megabytes, a loop that never returns, bad INPUT_SHAPE /
 * NUM_CLASSES). Each case starts a real trainer in the user's Python (about 2 s), so they are a
 * small share of a fuzz run.
 */

export interface PythonSeed {
  name: string;
  text: string;
}

export function loadPythonCorpus(root: string): PythonSeed[] {
  const dir = path.join(root, 'samples/pytorch');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.py'))
    .sort()
    .map((file) => ({ name: `samples/pytorch/${file}`, text: readFileSync(path.join(dir, file), 'utf8') }));
}

const EXTREME_INTEGERS = ['0', '-1', '-8', '1000000000', '3.5', '2**40', 'None', '"8"'];
const LAYER_SWAPS = ['nn.Linear', 'nn.BatchNorm1d', 'nn.Sigmoid', 'nn.Conv1d', 'nn.Conv3d', 'nn.Identity', 'nn.LSTM'];
const HOSTILE = [
  'raise RuntimeError("boom at import")',
  'import sys; sys.exit(3)',
  'import os; os._exit(9)',
  'print("x" * 200000); import sys; print("y" * 200000, file=sys.stderr)',
  'while True: pass',
  'INPUT_SHAPE = (0, 28, 28)',
  'INPUT_SHAPE = "abc"',
  'INPUT_SHAPE = (1, 100000, 100000)',
  'NUM_CLASSES = -1',
  'NUM_CLASSES = 3',
  'import no_such_module_gradient_lens_fuzz',
  'import torch; torch.manual_seed = None',
  'import json; print(json.dumps({"type": "error", "code": "internal", "message": "fake"}))',
];

export function makePythonCase(corpus: PythonSeed[], rng: Rng, index: number): FuzzCase {
  const seed = rng.pick(corpus);
  const lines = seed.text.split('\n');
  let detail: string;
  let bytes: Buffer;
  const roll = rng.int(7);
  if (roll === 0) {
    const at = rng.int(lines.length);
    detail = `deleted line ${at + 1}`;
    bytes = Buffer.from([...lines.slice(0, at), ...lines.slice(at + 1)].join('\n'));
  } else if (roll === 1) {
    const at = rng.int(lines.length);
    detail = `duplicated line ${at + 1}`;
    bytes = Buffer.from([...lines.slice(0, at + 1), ...lines.slice(at)].join('\n'));
  } else if (roll === 2) {
    const numbers = [...seed.text.matchAll(/\b\d+\b/g)];
    const match = rng.pick(numbers);
    const value = rng.pick(EXTREME_INTEGERS);
    detail = `number ${match[0]} at ${match.index} → ${value}`;
    bytes = Buffer.from(seed.text.slice(0, match.index) + value + seed.text.slice(match.index! + match[0].length));
  } else if (roll === 3) {
    const at = rng.int(seed.text.length);
    detail = `truncated at ${at} of ${seed.text.length}`;
    bytes = Buffer.from(seed.text.slice(0, at));
  } else if (roll === 4) {
    bytes = Buffer.from(seed.text);
    const flips = rng.range(1, 4);
    for (let i = 0; i < flips; i++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
    detail = `${flips} byte flip(s)`;
  } else if (roll === 5) {
    const calls = [...seed.text.matchAll(/nn\.(Conv2d|Linear|BatchNorm2d|Sigmoid|ReLU)\b/g)];
    const match = rng.pick(calls);
    const swap = rng.pick(LAYER_SWAPS);
    detail = `${match[0]} at ${match.index} → ${swap}`;
    bytes = Buffer.from(seed.text.slice(0, match.index) + swap + seed.text.slice(match.index! + match[0].length));
  } else {
    const statement = rng.pick(HOSTILE);
    // After the imports, at module level: the file's own names are defined above or below it alike.
    const at = Math.max(0, lines.findIndex((line) => /^class /.test(line)));
    detail = `inserted at line ${at + 1}: ${statement.slice(0, 60)}`;
    bytes = Buffer.from([...lines.slice(0, at), statement, ...lines.slice(at)].join('\n'));
  }
  return { index, seed: seed.name, kind: 'python-source', detail, files: { 'model.py': bytes }, model: 'model.py' };
}
