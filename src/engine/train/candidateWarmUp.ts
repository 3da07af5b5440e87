import { analyze } from '../analyze';
import type { RunOptions } from '../../shared/runOptions';

/**
 * A waiting candidate engine's warm-up (WARM_UP_ENV in compareFixes.ts): a few steps of the run's
 * own model, so V8 has compiled the code a candidate's steps take before the candidate starts.
 * An analysis is self-contained (model, data and trainer built and disposed in it; seeds are
 * per run), so the candidate's run after it is the same as in a fresh engine.
 */
export async function warmUpCandidateEngine(spec: string): Promise<void> {
  try {
    const { modelPath, options } = JSON.parse(spec) as { modelPath: string; options: RunOptions };
    await analyze(modelPath, options, () => undefined);
  } catch {
    // A warm-up that fails costs the candidate only the speed it would have gained.
  }
}
