import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';

/**
 * Training is background work: while it runs, the editor that started it must stay responsive.
 * A process's nice value alone does not do that on Linux. With autogroups (the default on most
 * distributions' kernels) the scheduler first shares the CPU between sessions, then between the
 * processes of a session, and a child forked by the extension host shares the host's session.
 * So the busy engine made the host's whole group look busy, and the host's main thread waited
 * 100–200 ms for a core at a time (measured in code-server on 2 cores). An engine started in a
 * session of its own (`detached`) gets its own autogroup, which this lowers as a whole.
 */
export interface PriorityOutcome {
  /** What took effect, for the log: e.g. "nice 10, autogroup nice 10". */
  applied: string[];
  /** What was tried and refused, with the reason. */
  refused: string[];
}

export function lowerProcessPriority(pid: number, nice: number): PriorityOutcome {
  const outcome: PriorityOutcome = { applied: [], refused: [] };
  try {
    os.setPriority(pid, nice);
    outcome.applied.push(`nice ${nice}`);
  } catch (error) {
    outcome.refused.push(`nice ${nice}: ${(error as Error).message}`);
  }
  const ownGroup = autogroupOf('self');
  const childGroup = autogroupOf(String(pid));
  if (childGroup === undefined) return outcome; // not Linux, or a kernel without autogroups
  // Never renice a group the caller is in: that would slow the caller down with it.
  if (childGroup === ownGroup) {
    outcome.refused.push('autogroup: the engine shares the caller\'s session');
    return outcome;
  }
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    outcome.applied.push(`autogroup nice ${nice}`);
  } catch (error) {
    outcome.refused.push(`autogroup nice ${nice}: ${(error as Error).message}`);
  }
  return outcome;
}

/** "/autogroup-419" from "/autogroup-419 nice 0"; undefined where the file does not exist. */
function autogroupOf(pid: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/autogroup`, 'utf8').split(' ')[0];
  } catch {
    return undefined;
  }
}
