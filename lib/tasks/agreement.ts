// Agreement between readers: Cohen's kappa (two readers, categories), Fleiss' kappa (any number of
// reads per case, categories) and intraclass correlation (numbers), each with a 95% confidence
// interval. Pure arithmetic; checked against published worked examples in tests/tasks/agreement.test.ts.

export interface Estimate {
  value: number;
  /** 95% confidence interval; null when it cannot be computed (too few cases). */
  ci: [number, number] | null;
  n: number;
}

const Z95 = 1.959963984540054;

/**
 * Cohen's kappa for two readers' categorical ratings of the same cases (pairs with a missing rating
 * are dropped). CI from the large-sample standard error of Fleiss, Cohen & Everitt (1969).
 */
export function cohenKappa(a: readonly (string | null)[], b: readonly (string | null)[]): Estimate | null {
  const pairs: [string, string][] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] != null && b[i] != null) pairs.push([a[i]!, b[i]!]);
  const n = pairs.length;
  if (n === 0) return null;
  const cats = [...new Set(pairs.flat())];
  const idx = new Map(cats.map((c, i) => [c, i]));
  const k = cats.length;
  const p = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (const [x, y] of pairs) p[idx.get(x)!]![idx.get(y)!]! += 1 / n;
  const row = p.map((r) => r.reduce((s, v) => s + v, 0));
  const col = cats.map((_, j) => p.reduce((s, r) => s + r[j]!, 0));
  const po = cats.reduce((s, _, i) => s + p[i]![i]!, 0);
  const pe = cats.reduce((s, _, i) => s + row[i]! * col[i]!, 0);
  if (pe === 1) return { value: 1, ci: null, n };
  const kappa = (po - pe) / (1 - pe);
  // Fleiss, Cohen & Everitt (1969) variance of kappa-hat.
  let sum1 = 0;
  for (let i = 0; i < k; i++) sum1 += p[i]![i]! * (1 - (row[i]! + col[i]!) * (1 - kappa)) ** 2;
  let sum2 = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) if (i !== j) sum2 += p[i]![j]! * (row[j]! + col[i]!) ** 2;
  const variance = (sum1 + (1 - kappa) ** 2 * sum2 - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2);
  const se = Math.sqrt(Math.max(variance, 0));
  return { value: kappa, ci: n > 1 ? [kappa - Z95 * se, kappa + Z95 * se] : null, n };
}

/**
 * Fleiss' kappa. `counts[i][j]` = how many reads put case i in category j; every case must have the
 * same number of reads (cases with a different number are dropped by fleissFromReads). CI from the
 * standard error under the null of Fleiss (1971) as given by Fleiss, Nee & Landis (1979).
 */
export function fleissKappa(counts: readonly (readonly number[])[]): Estimate | null {
  const N = counts.length;
  if (N === 0) return null;
  const n = counts[0]!.reduce((s, v) => s + v, 0);
  if (n < 2 || counts.some((r) => r.reduce((s, v) => s + v, 0) !== n)) return null;
  const k = counts[0]!.length;
  const pj = Array.from({ length: k }, (_, j) => counts.reduce((s, r) => s + r[j]!, 0) / (N * n));
  const Pi = counts.map((r) => (r.reduce((s, v) => s + v * v, 0) - n) / (n * (n - 1)));
  const Pbar = Pi.reduce((s, v) => s + v, 0) / N;
  const Pe = pj.reduce((s, v) => s + v * v, 0);
  if (Pe === 1) return { value: 1, ci: null, n: N };
  const kappa = (Pbar - Pe) / (1 - Pe);
  const sumPQ = pj.reduce((s, p) => s + p * (1 - p), 0);
  const sumPQQ = pj.reduce((s, p) => s + p * (1 - p) * (1 - 2 * p), 0);
  const variance = sumPQ > 0 ? (2 / (N * n * (n - 1))) * ((sumPQ ** 2 - sumPQQ) / sumPQ ** 2) : 0;
  const se = Math.sqrt(Math.max(variance, 0));
  return { value: kappa, ci: [kappa - Z95 * se, kappa + Z95 * se], n: N };
}

/** Fleiss' kappa from the reads of each case (null = not answered; cases with other read counts than the most common are dropped). */
export function fleissFromReads(cases: readonly (readonly (string | null)[])[]): Estimate | null {
  const clean = cases.map((c) => c.filter((x): x is string => x != null)).filter((c) => c.length >= 2);
  if (clean.length === 0) return null;
  const freq = new Map<number, number>();
  for (const c of clean) freq.set(c.length, (freq.get(c.length) ?? 0) + 1);
  const n = [...freq.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]![0];
  const use = clean.filter((c) => c.length === n);
  const cats = [...new Set(use.flat())].sort();
  return fleissKappa(use.map((c) => cats.map((cat) => c.filter((x) => x === cat).length)));
}

export type IccForm = "ICC(1,1)" | "ICC(2,1)" | "ICC(3,1)" | "ICC(1,k)" | "ICC(2,k)" | "ICC(3,k)";

/**
 * Intraclass correlation (Shrout & Fleiss 1979) of an n×k table (n cases, k reads each; rows with a
 * missing value are dropped). ICC(1,·): one-way random (different readers per case, the usual case
 * in a read campaign); ICC(2,·): two-way random, absolute agreement; ICC(3,·): two-way mixed,
 * consistency. CIs as given by McGraw & Wong (1996).
 */
export function icc(table: readonly (readonly (number | null)[])[], form: IccForm = "ICC(1,1)"): Estimate | null {
  const rows = table.filter((r) => r.every((v) => v != null && Number.isFinite(v))) as number[][];
  const n = rows.length;
  if (n < 2) return null;
  const k = rows[0]!.length;
  if (k < 2 || rows.some((r) => r.length !== k)) return null;
  const grand = rows.flat().reduce((s, v) => s + v, 0) / (n * k);
  const rowMeans = rows.map((r) => r.reduce((s, v) => s + v, 0) / k);
  const colMeans = Array.from({ length: k }, (_, j) => rows.reduce((s, r) => s + r[j]!, 0) / n);
  const ssTotal = rows.flat().reduce((s, v) => s + (v - grand) ** 2, 0);
  const ssRows = k * rowMeans.reduce((s, m) => s + (m - grand) ** 2, 0);
  const ssCols = n * colMeans.reduce((s, m) => s + (m - grand) ** 2, 0);
  const ssErr = ssTotal - ssRows - ssCols;
  const BMS = ssRows / (n - 1);
  const WMS = (ssTotal - ssRows) / (n * (k - 1));
  const JMS = ssCols / (k - 1);
  const EMS = ssErr / ((n - 1) * (k - 1));
  const alpha = 0.05;
  let value: number;
  let ci: [number, number] | null = null;
  switch (form) {
    case "ICC(1,1)": {
      value = (BMS - WMS) / (BMS + (k - 1) * WMS);
      const F = BMS / WMS;
      const FL = F / fQuantile(1 - alpha / 2, n - 1, n * (k - 1));
      const FU = F * fQuantile(1 - alpha / 2, n * (k - 1), n - 1);
      ci = [(FL - 1) / (FL + k - 1), (FU - 1) / (FU + k - 1)];
      break;
    }
    case "ICC(1,k)": {
      value = (BMS - WMS) / BMS;
      const F = BMS / WMS;
      const FL = F / fQuantile(1 - alpha / 2, n - 1, n * (k - 1));
      const FU = F * fQuantile(1 - alpha / 2, n * (k - 1), n - 1);
      ci = [1 - 1 / FL, 1 - 1 / FU];
      break;
    }
    case "ICC(3,1)": {
      value = (BMS - EMS) / (BMS + (k - 1) * EMS);
      const F = BMS / EMS;
      const FL = F / fQuantile(1 - alpha / 2, n - 1, (n - 1) * (k - 1));
      const FU = F * fQuantile(1 - alpha / 2, (n - 1) * (k - 1), n - 1);
      ci = [(FL - 1) / (FL + k - 1), (FU - 1) / (FU + k - 1)];
      break;
    }
    case "ICC(3,k)": {
      value = (BMS - EMS) / BMS;
      const F = BMS / EMS;
      const FL = F / fQuantile(1 - alpha / 2, n - 1, (n - 1) * (k - 1));
      const FU = F * fQuantile(1 - alpha / 2, (n - 1) * (k - 1), n - 1);
      ci = [1 - 1 / FL, 1 - 1 / FU];
      break;
    }
    case "ICC(2,1)":
    case "ICC(2,k)": {
      const single = (BMS - EMS) / (BMS + (k - 1) * EMS + (k * (JMS - EMS)) / n);
      value = form === "ICC(2,1)" ? single : (BMS - EMS) / (BMS + (JMS - EMS) / n);
      // McGraw & Wong (1996), case 2A: Satterthwaite degrees of freedom.
      const a = (k * single) / (n * (1 - single));
      const b = 1 + (k * single * (n - 1)) / (n * (1 - single));
      const v = (a * JMS + b * EMS) ** 2 / ((a * JMS) ** 2 / (k - 1) + (b * EMS) ** 2 / ((n - 1) * (k - 1)));
      const Fs = fQuantile(1 - alpha / 2, n - 1, v);
      const Fi = fQuantile(1 - alpha / 2, v, n - 1);
      const lo = (n * (BMS - Fs * EMS)) / (Fs * (k * JMS + (k * n - k - n) * EMS) + n * BMS);
      const hi = (n * (Fi * BMS - EMS)) / (k * JMS + (k * n - k - n) * EMS + n * Fi * BMS);
      ci = form === "ICC(2,1)" ? [lo, hi] : [(k * lo) / (1 + (k - 1) * lo), (k * hi) / (1 + (k - 1) * hi)];
      break;
    }
  }
  return { value, ci, n };
}

// ---- F distribution quantile (regularised incomplete beta, Numerical Recipes' continued fraction) ----

function lnGamma(x: number): number {
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const ci of c) ser += ci / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

function betacf(a: number, b: number, x: number): number {
  const FPMIN = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < FPMIN) d = FPMIN;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-12) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const bt = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (bt * betacf(a, b, x)) / a : 1 - (bt * betacf(b, a, 1 - x)) / b;
}

/** CDF of the F distribution with (d1, d2) degrees of freedom. */
export function fCdf(f: number, d1: number, d2: number): number {
  if (f <= 0) return 0;
  return incompleteBeta((d1 * f) / (d1 * f + d2), d1 / 2, d2 / 2);
}

/** The p-quantile of the F distribution (bisection on the CDF). */
export function fQuantile(p: number, d1: number, d2: number): number {
  let lo = 0;
  let hi = 1;
  while (fCdf(hi, d1, d2) < p) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (fCdf(mid, d1, d2) < p) lo = mid;
    else hi = mid;
    if (hi - lo < 1e-12 * Math.max(1, hi)) break;
  }
  return (lo + hi) / 2;
}
