/**
 * A small seeded generator (mulberry32). Batch order and weight re-initialisation must repeat
 * exactly for a given seed, and `Math.random` cannot be seeded.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A non-zero integer seed derived from a base seed and a stream index. Non-zero matters: TF.js
 * random ops treat a seed of 0 as "no seed" and fall back to Math.random.
 */
export function deriveSeed(seed: number, stream: number): number {
  const next = seededRandom((seed * 2654435761) ^ (stream * 40503 + 1));
  return 1 + Math.floor(next() * 2147483646);
}
