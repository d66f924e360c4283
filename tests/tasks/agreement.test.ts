// Agreement statistics against published worked examples.
import { describe, expect, it } from "vitest";
import { cohenKappa, fCdf, fleissFromReads, fleissKappa, fQuantile, icc } from "@/lib/tasks/agreement";

describe("Cohen's kappa", () => {
  it("matches the worked example of Wikipedia's 'Cohen's kappa' (50 grant proposals: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no → κ = 0.4)", () => {
    const a = [...Array(20).fill("yes"), ...Array(5).fill("yes"), ...Array(10).fill("no"), ...Array(15).fill("no")];
    const b = [...Array(20).fill("yes"), ...Array(5).fill("no"), ...Array(10).fill("yes"), ...Array(15).fill("no")];
    const k = cohenKappa(a, b)!;
    expect(k.value).toBeCloseTo(0.4, 10);
    expect(k.n).toBe(50);
    expect(k.ci![0]).toBeLessThan(0.4);
    expect(k.ci![1]).toBeGreaterThan(0.4);
    // The standard error is near Cohen's (1960) approximation √(po(1−po)/(n(1−pe)²)) = √(0.21/12.5) = 0.1296.
    const se = (k.ci![1] - k.ci![0]) / 2 / 1.96;
    expect(se).toBeGreaterThan(0.12);
    expect(se).toBeLessThan(0.135);
  });
  it("is 1 for perfect agreement and drops missing pairs", () => {
    expect(cohenKappa(["a", "b", null, "a"], ["a", "b", "b", "a"])!.value).toBe(1);
    expect(cohenKappa(["a", "b", null, "a"], ["a", "b", "b", "a"])!.n).toBe(3);
    expect(cohenKappa([], [])).toBeNull();
  });
});

describe("Fleiss' kappa", () => {
  // Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; P̄ = 0.378, P̄e = 0.213, κ = 0.210.
  const table = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
  ];
  it("matches the worked example (κ = 0.210)", () => {
    const k = fleissKappa(table)!;
    expect(k.value).toBeCloseTo(0.21, 3);
    expect(k.ci![0]).toBeLessThan(k.value);
    expect(k.ci![1]).toBeGreaterThan(k.value);
  });
  it("gives the same from the reads of each case", () => {
    const reads = table.map((row) => row.flatMap((c, j) => Array<string>(c).fill(`c${j + 1}`)));
    expect(fleissFromReads(reads)!.value).toBeCloseTo(fleissKappa(table)!.value, 12);
  });
  it("refuses cases with different numbers of reads", () => {
    expect(fleissKappa([[1, 1], [2, 1]])).toBeNull();
  });
});

describe("intraclass correlation", () => {
  // Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges. Their Table 4 gives ICC(1,1) = .17,
  // ICC(2,1) = .29, ICC(3,1) = .71, ICC(1,4) = .44, ICC(2,4) = .62, ICC(3,4) = .91; the 95% bounds are
  // those the R package psych prints for this data set (its documented `sf` example).
  const sf = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
  ];
  const cases = [
    ["ICC(1,1)", 0.17, -0.133, 0.72],
    ["ICC(2,1)", 0.29, 0.019, 0.76],
    ["ICC(3,1)", 0.71, 0.342, 0.95],
    ["ICC(1,k)", 0.44, -0.884, 0.91],
    ["ICC(2,k)", 0.62, 0.071, 0.93],
    ["ICC(3,k)", 0.91, 0.676, 0.99],
  ] as const;
  for (const [form, value, lo, hi] of cases) {
    it(`${form} = ${value} [${lo}, ${hi}]`, () => {
      const r = icc(sf, form)!;
      expect(Math.abs(r.value - value)).toBeLessThan(0.006);
      expect(Math.abs(r.ci![0] - lo)).toBeLessThan(0.006);
      expect(Math.abs(r.ci![1] - hi)).toBeLessThan(0.006);
    });
  }
  it("needs two complete rows", () => {
    expect(icc([[1, 2]])).toBeNull();
    expect(icc([[1, 2], [3, null], [2, 2]])!.n).toBe(2);
  });
});

describe("F distribution", () => {
  it("has the tabulated 97.5% quantiles (F(5,18) = 3.38, F(18,5) ≈ 6.36, between the tabulated F(15,5) = 6.43 and F(20,5) = 6.33)", () => {
    expect(fQuantile(0.975, 5, 18)).toBeCloseTo(3.382, 2);
    expect(fQuantile(0.975, 18, 5)).toBeGreaterThan(6.33);
    expect(fQuantile(0.975, 18, 5)).toBeLessThan(6.43);
    expect(fCdf(fQuantile(0.9, 3, 7), 3, 7)).toBeCloseTo(0.9, 8);
  });
});
