import { describe, expect, it } from 'vitest';
import { replay, tally } from './replay.js';

describe('the hostile cases', () => {
  it('are all handled: a one-line error before anything is written, or the right result', async () => {
    const results = await replay();
    const problems = results.filter((r) => r.problem !== null).map((r) => `${r.what}: ${r.problem}`);
    expect(problems).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(35);
    expect(tally(results)).toBe(`${results.length} hostile cases, ${results.length} handled`);
  }, 900_000);
});
