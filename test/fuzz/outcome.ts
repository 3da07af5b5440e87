import path from 'node:path';
import { analyze } from '../../src/engine/analyze';
import { InputError, UsageError } from '../../src/engine/errors';
import type { BackendChoice } from '../../src/shared/codes';

/** What one mutated file did in the engine. The first three are fine; the rest are bugs. */
export type Outcome =
  | { kind: 'trained'; warnings: number }
  | { kind: 'input-error'; problemClass: string; message: string }
  | { kind: 'usage-error'; message: string }
  | { kind: 'wrong-exception'; name: string; message: string; stack?: string }
  | { kind: 'bad-message'; why: string; message: string; stack?: string }
  | { kind: 'hang'; message: string }
  | { kind: 'crash'; message: string }
  | { kind: 'memory'; message: string };

export const ACCEPTED: ReadonlySet<Outcome['kind']> = new Set(['trained', 'input-error', 'usage-error']);

/** A JavaScript engine error leaking through as the "problem": it names no problem of the file. */
const INTERNAL_PHRASES =
  /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|undefined is not|null is not|\[object Object\]|Maximum call stack|Invalid array length|Invalid typed array length|Invalid string length|Array buffer allocation failed|Cannot convert|^\s*at /;

/** Longest message the CLI's one line may be; a name of 10^5 characters must not make a 10^5-character message. */
export const MAX_MESSAGE_CHARS = 1000;

// A Python file's import gets 3 s: a mutation that loops at import is then an input error, not a hang to the 10 s watchdog.
export const FUZZ_RUN_OPTIONS = { steps: 1, batchSize: 2, data: 'synthetic', seed: 1, importTimeoutSeconds: 3 } as const;

/** Runs the whole engine (load, build, one training step) on one file and judges what came out. */
export async function runOne(modelPath: string, backend: BackendChoice): Promise<Outcome> {
  try {
    const report = await analyze(modelPath, { ...FUZZ_RUN_OPTIONS, backend }, () => {});
    return { kind: 'trained', warnings: report.warnings?.length ?? 0 };
  } catch (error) {
    return judgeError(error, modelPath);
  }
}

export function judgeError(error: unknown, modelPath: string): Outcome {
  if (error instanceof InputError) {
    const why = messageProblem(error.message, error.problem, modelPath);
    if (why) return { kind: 'bad-message', why, message: clip(error.message), stack: error.stack };
    return { kind: 'input-error', problemClass: problemClass(error.problem), message: clip(error.message) };
  }
  if (error instanceof UsageError) return { kind: 'usage-error', message: clip(error.message) };
  const e = error instanceof Error ? error : new Error(String(error));
  return { kind: 'wrong-exception', name: e.name, message: clip(e.message), stack: e.stack };
}

function messageProblem(message: string, problem: string, modelPath: string): string | undefined {
  if (!message.startsWith(`${modelPath}: `) && !message.includes(path.basename(modelPath))) return 'does not name the file';
  if (/[\r\n]/.test(message)) return 'more than one line';
  if (message.length > MAX_MESSAGE_CHARS) return `${message.length} characters long`;
  if (problem.trim().length < 8) return 'no problem stated';
  // A Python file's own exception, quoted (`raised NameError: name 'x' is not defined`), is the
  // user's error said in their language, not one of ours leaking out.
  const ours = modelPath.endsWith('.py') ? problem.replace(/\b[A-Z]\w*(Error|Exception|Exit)\b: .*$/, '') : problem;
  if (INTERNAL_PHRASES.test(ours)) return 'an internal JavaScript error as the problem';
  return undefined;
}

function clip(text: string): string {
  return text.length > 600 ? `${text.slice(0, 600)}… (${text.length} chars)` : text;
}

/** Groups messages by their wording: names, numbers and shapes blanked, the detail after the first colon dropped. */
export function problemClass(problem: string): string {
  let blanked = problem.replace(/"(?:[^"\\]|\\.)*"/g, '"…"');
  // Innermost brackets first, until nested lists and objects are one placeholder.
  for (let before = ''; before !== blanked; ) {
    before = blanked;
    blanked = blanked.replace(/\[[^[\]]*\]/g, '[…]').replace(/\{[^{}]*\}/g, '{…}').replace(/\([^()]*\)/g, '(…)');
  }
  blanked = blanked.replace(/-?\b\d+(\.\d+)?(e[-+]?\d+)?\b/gi, 'N').replace(/has (\w+) (N|true|false|null|\{…\}|\[…\]|"…")(?=[:,])/, 'has $1 …');
  const head = blanked.split(': ')[0];
  return head.length > 90 ? `${head.slice(0, 87)}...` : head;
}
