import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');

interface ScoredCase {
  id: string;
  healthy: boolean;
  falseAlarm?: boolean;
  detected?: boolean;
  fixCorrect?: boolean;
  codes: string[];
  layer?: string;
}

/** A small slice of the case set, one per format and kind, through the built CLI and scripts/eval.mjs. */
const SUBSET = ['healthy-lenet-k2', 'healthy-residual-tfjs', 'vanishing-sigmoid10-k3', 'exploding-large-init-tfjs', 'dying-relu-bias-k2', 'exploding-high-lr-keras', 'dying-relu-bias-h5'];

test('eval subset through the engine: expected codes, no false alarm, accepted top fixes', { timeout: 300_000 }, () => {
  assert.ok(existsSync(path.join(root, 'dist/cli.js')), 'dist/cli.js is built (node scripts/build.mjs)');
  const output = execFileSync(process.execPath, [path.join(root, 'scripts/eval.mjs'), '--json', '--only', SUBSET.join(',')], { encoding: 'utf8' });
  const { summary, cases } = JSON.parse(output) as { summary: { recall: number; falseAlarms: number; fixAccuracy: number }; cases: ScoredCase[] };
  const byId = new Map(cases.map((c) => [c.id, c]));
  assert.equal(cases.length, SUBSET.length);
  assert.equal(summary.falseAlarms, 0, JSON.stringify(cases.filter((c) => c.falseAlarm)));
  assert.equal(summary.recall, 1, JSON.stringify(cases.filter((c) => !c.healthy && !c.detected)));
  assert.equal(summary.fixAccuracy, 1);
  const vanishing = byId.get('vanishing-sigmoid10-k3')!;
  assert.deepEqual(vanishing.codes, ['vanishing-gradient']);
  assert.equal(vanishing.layer, 'conv2d', 'the finding points at the first conv, where the gradient has vanished most');
  assert.ok(byId.get('exploding-large-init-tfjs')!.codes.includes('exploding-gradient'));
  assert.ok(byId.get('dying-relu-bias-k2')!.codes.includes('dying-relu'));
});
