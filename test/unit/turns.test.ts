// The queue listings wait in (src/http/listing.ts): a few at a time, first come first served.
import { describe, expect, it } from 'vitest';
import { Turns } from '../../src/http/listing.js';

/** Runs jobs 1..n through `turns`, each holding its turn for a timer tick. */
async function runThrough(turns: Turns, n: number): Promise<{ order: number[]; most: number }> {
  const order: number[] = [];
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      await turns.take();
      inside++;
      most = Math.max(most, inside);
      order.push(i + 1);
      await new Promise((r) => setTimeout(r, 1));
      inside--;
      turns.give();
    }),
  );
  return { order, most };
}

describe('Turns', () => {
  it('lets `limit` in at once, and the rest in the order they came', async () => {
    const turns = new Turns(2);
    expect(await runThrough(turns, 6)).toEqual({ order: [1, 2, 3, 4, 5, 6], most: 2 });
    // Every turn came back: a second batch gets the same.
    expect(await runThrough(turns, 3)).toEqual({ order: [1, 2, 3], most: 2 });
  });

  it('a free turn is taken without waiting', () => {
    const turns = new Turns(1);
    expect(turns.take()).toBeUndefined();
    expect(turns.take()).toBeInstanceOf(Promise);
  });
});
