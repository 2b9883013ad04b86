// Clustering agreement scores in float64: NMI (arithmetic mean, as scikit-learn) and ARI.

function contingency(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): { table: Map<number, number>; ra: Map<number, number>; rb: Map<number, number>; n: number } {
  if (a.length !== b.length) {
    throw new TypeError(
      `Expected labelsPred to have ${a.length} labels like labelsTrue but found ${b.length}`,
    );
  }
  const ia = new Map<number, number>(), ib = new Map<number, number>();
  const table = new Map<number, number>();
  const ra = new Map<number, number>(), rb = new Map<number, number>();
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (!ia.has(x)) ia.set(x, ia.size);
    if (!ib.has(y)) ib.set(y, ib.size);
    const u = ia.get(x)!, v = ib.get(y)!;
    const key = u * 0x100000 + v;
    table.set(key, (table.get(key) ?? 0) + 1);
    ra.set(u, (ra.get(u) ?? 0) + 1);
    rb.set(v, (rb.get(v) ?? 0) + 1);
  }
  return { table, ra, rb, n: a.length };
}

/**
 * Normalised mutual information between two labelings (arithmetic-mean normalisation, the
 * scikit-learn default), computed in float64. 1 for identical partitions up to renaming.
 *
 * @param labelsTrue Reference labels.
 * @param labelsPred Predicted cluster ids (same length).
 * @returns NMI in [0, 1].
 *
 * @example Usage
 * ```ts
 * import { nmi } from "./cluster_metrics.ts";
 * console.log(nmi([0, 0, 1, 1], [1, 1, 0, 0])); // 1
 * ```
 */
export function nmi(labelsTrue: ArrayLike<number>, labelsPred: ArrayLike<number>): number {
  const { table, ra, rb, n } = contingency(labelsTrue, labelsPred);
  if (n === 0) return 1;
  const h = (m: Map<number, number>) => {
    let s = 0;
    for (const c of m.values()) s -= (c / n) * Math.log(c / n);
    return s;
  };
  const ha = h(ra), hb = h(rb);
  if (ra.size === 1 && rb.size === 1) return 1;
  if (ra.size === 1 || rb.size === 1) return 0;
  let mi = 0;
  for (const [key, c] of table) {
    const u = Math.floor(key / 0x100000), v = key % 0x100000;
    mi += (c / n) * Math.log((c * n) / (ra.get(u)! * rb.get(v)!));
  }
  const denom = (ha + hb) / 2;
  return denom <= 0 ? 1 : Math.max(0, Math.min(1, mi / denom));
}

/**
 * Adjusted Rand index between two labelings (float64; 1 = identical, ≈0 = chance).
 *
 * @param labelsTrue Reference labels.
 * @param labelsPred Predicted cluster ids (same length).
 * @returns ARI in [-1, 1].
 *
 * @example Usage
 * ```ts
 * import { ari } from "./cluster_metrics.ts";
 * console.log(ari([0, 0, 1, 1], [0, 0, 1, 1])); // 1
 * ```
 */
export function ari(labelsTrue: ArrayLike<number>, labelsPred: ArrayLike<number>): number {
  const { table, ra, rb, n } = contingency(labelsTrue, labelsPred);
  const c2 = (x: number) => (x * (x - 1)) / 2;
  let sumIj = 0, sumA = 0, sumB = 0;
  for (const c of table.values()) sumIj += c2(c);
  for (const c of ra.values()) sumA += c2(c);
  for (const c of rb.values()) sumB += c2(c);
  const total = c2(n);
  if (total === 0) return 1;
  const expected = (sumA * sumB) / total;
  const max = (sumA + sumB) / 2;
  if (max === expected) return 1;
  return (sumIj - expected) / (max - expected);
}
