/**
 * Whether a table's row count stopped growing during a soak: the verdict behind "database tables
 * bounded by expiry" (issue #10, item 4). Rows live at most a known time (token lifetime plus
 * retention plus a sweep interval), so once that time has passed since the load started the count
 * should only wobble around a level set by the request rate. The steady part of the run is cut in
 * two halves by time: a bounded table's highest count in the second half is no higher than in the
 * first (within `tolerance`, plus `slack` rows for one burst such as every agent renewing at once); a
 * table that keeps every row grows by a quarter or more between the halves' ends.
 */

export interface RowSample {
  /** Seconds since the soak started. */
  readonly t: number;
  readonly count: number;
}

export interface GrowthCriteria {
  /** Seconds after which no row written before the soak (or in its first moments) may remain. */
  readonly settleSeconds: number;
  /** Relative rise allowed between the halves' maxima (default 0.1). */
  readonly tolerance?: number;
  /** Absolute rise allowed on top (default 0). */
  readonly slack?: number;
  /**
   * Each half must span at least this long (default 60 s): the longest cycle in the counts (a
   * purge or sweep interval, a round of renewals), so both halves see its peak.
   */
  readonly minHalfSeconds?: number;
}

export interface GrowthVerdict {
  /** `null`: too little of the run lies past `settleSeconds` to tell. */
  readonly bounded: boolean | null;
  readonly steady_from_s: number;
  readonly first_half_max: number | null;
  readonly second_half_max: number | null;
  /** Least-squares slope over the steady part, rows per minute (for the reader; not the verdict). */
  readonly slope_per_minute: number | null;
}

const MIN_SAMPLES_PER_HALF = 2;

export function judgeTableGrowth(samples: readonly RowSample[], criteria: GrowthCriteria): GrowthVerdict {
  const { settleSeconds, tolerance = 0.1, slack = 0, minHalfSeconds = 60 } = criteria;
  const steady = samples.filter((s) => s.t >= settleSeconds);
  const end = steady.at(-1)?.t;
  const none = {
    bounded: null,
    steady_from_s: settleSeconds,
    first_half_max: null,
    second_half_max: null,
    slope_per_minute: null,
  };
  if (end === undefined || end - settleSeconds < 2 * minHalfSeconds) return none;
  const middle = (settleSeconds + end) / 2;
  const first = steady.filter((s) => s.t < middle).map((s) => s.count);
  const second = steady.filter((s) => s.t >= middle).map((s) => s.count);
  if (first.length < MIN_SAMPLES_PER_HALF || second.length < MIN_SAMPLES_PER_HALF) return none;
  const firstMax = Math.max(...first);
  const secondMax = Math.max(...second);
  return {
    bounded: secondMax <= firstMax * (1 + tolerance) + slack,
    steady_from_s: settleSeconds,
    first_half_max: firstMax,
    second_half_max: secondMax,
    slope_per_minute: Math.round(slopeOf(steady) * 60 * 10) / 10,
  };
}

function slopeOf(samples: readonly RowSample[]): number {
  const n = samples.length;
  const meanT = samples.reduce((sum, s) => sum + s.t, 0) / n;
  const meanC = samples.reduce((sum, s) => sum + s.count, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.t - meanT) * (s.count - meanC);
    den += (s.t - meanT) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
