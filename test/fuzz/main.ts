import { closeSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendChoice } from '../../src/shared/codes';
import { formatSummary, runFuzz } from './harness';
import { MUTATION_KINDS, type MutationKind } from './mutate';
import { runOne } from './outcome';

/**
 * `npm run fuzz`: 10,000 seeded mutations of the shipped model files through the engine.
 *   --count N --seed S --start I --only KIND --backend wasm|cpu --workers N --timeout MS --memory MB
 *   --python-share F   share of cases that mutate a PyTorch sample (default 0.02; --only python-source for all)
 *   --replay DIR   runs one saved failure (test-output/fuzz/case-…) in this process and prints what it threw.
 * Exit code 1 when any case crashed, hung, blew up memory, threw a non-input error or an unclear message.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      start: { type: 'string', default: '0' },
      only: { type: 'string' },
      backend: { type: 'string', default: 'wasm' },
      workers: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '10000' },
      memory: { type: 'string', default: '3072' },
      replay: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      'python-share': { type: 'string', default: '0.02' },
    },
  });
  if (values.replay) return replay(values.replay, values.backend as BackendChoice);
  if (values.only && !(MUTATION_KINDS as readonly string[]).includes(values.only)) {
    console.error(`unknown mutation kind "${values.only}" (known: ${MUTATION_KINDS.join(', ')})`);
    return 2;
  }
  const count = Number(values.count);
  let lastPrint = 0;
  const summary = await runFuzz({
    count,
    seed: Number(values.seed),
    start: Number(values.start),
    only: values.only as MutationKind | undefined,
    backend: values.backend as BackendChoice,
    workers: Number(values.workers),
    timeoutMs: Number(values.timeout),
    memoryLimitMb: Number(values.memory),
    pythonShare: Number(values['python-share']),
    onResult: (done, total, result) => {
      const failed = !['trained', 'input-error', 'usage-error'].includes(result.outcome.kind);
      if (failed) process.stderr.write(`\n#${result.case.index} ${result.case.kind}: ${result.outcome.kind} (${result.case.detail})\n`);
      const now = Date.now();
      if (!values.quiet && (now - lastPrint > 2000 || done === total)) {
        lastPrint = now;
        process.stderr.write(`\r${done}/${total} mutations`);
      }
    },
  });
  process.stderr.write('\n');
  console.log(formatSummary(summary));
  return summary.failures.length === 0 ? 0 : 1;
}

async function replay(folder: string, backend: BackendChoice): Promise<number> {
  const meta = JSON.parse(readFileSync(path.join(folder, 'case.json'), 'utf8')) as { model: string; detail: string; sparseFiles?: Record<string, string> };
  for (const [name, spec] of Object.entries(meta.sparseFiles ?? {})) {
    const fd = openSync(path.join(folder, name), 'w');
    ftruncateSync(fd, Number(spec.slice('sparse:'.length)));
    closeSync(fd);
  }
  console.log(`replaying ${meta.detail}`);
  const outcome = await runOne(path.join(folder, meta.model), backend);
  console.log(JSON.stringify(outcome, null, 2));
  return ['trained', 'input-error', 'usage-error'].includes(outcome.kind) ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
