/**
 * 1-based ranks by descending value among the entries where `included[i]` is 1, ties going to the lower
 * index; 0 for entries that are not ranked. ±Infinity rank like any other value; NaN entries must be excluded.
 */
export function rankDescending(values: Float64Array, included: Uint8Array): Int32Array {
  const order: number[] = [];
  for (let i = 0; i < values.length; i++) if (included[i] === 1) order.push(i);
  order.sort((i, j) => {
    const a = values[i]!;
    const b = values[j]!;
    return a > b ? -1 : a < b ? 1 : i - j;
  });
  const ranks = new Int32Array(values.length);
  for (let k = 0; k < order.length; k++) ranks[order[k]!] = k + 1;
  return ranks;
}
