/**
 * The Mann-Whitney U test of two independent samples (normal approximation with tie correction and
 * continuity correction): does one tend to be larger than the other? Used to report, never to assert,
 * whether two timings differ beyond the noise.
 */
export interface MannWhitneyResult {
  /** U of the second sample: the number of pairs (a, b) with b > a, ties counting one half. */
  readonly u: number;
  readonly z: number;
  /** Two-sided p-value. */
  readonly p: number;
  /** U / (n_a × n_b): the probability that a value of the second sample exceeds one of the first. */
  readonly probabilityGreater: number;
}

export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitneyResult {
  const na = a.length;
  const nb = b.length;
  if (na === 0 || nb === 0)
    return { u: Number.NaN, z: Number.NaN, p: Number.NaN, probabilityGreater: Number.NaN };
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  let rankSumB = 0;
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const rank = (i + j) / 2 + 1;
    const t = j - i + 1;
    tieTerm += t ** 3 - t;
    for (let k = i; k <= j; k++) if (all[k]!.g === 1) rankSumB += rank;
    i = j + 1;
  }
  const u = rankSumB - (nb * (nb + 1)) / 2;
  const n = na + nb;
  const mean = (na * nb) / 2;
  const variance = ((na * nb) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const z = variance > 0 ? (u - mean - Math.sign(u - mean) * 0.5) / Math.sqrt(variance) : 0;
  return { u, z, p: Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))), probabilityGreater: u / (na * nb) };
}

/** Φ(x), Abramowitz–Stegun 7.1.26 (error < 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}
