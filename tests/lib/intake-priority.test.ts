import { describe, expect, it } from "vitest";
import { backgroundMode, noteReceived, type IntakeActivity, type PriorityConfig } from "@/lib/intake/priority";

const cfg: PriorityConfig = { quietMs: 1_000, maxYieldMs: 30_000 };
const fresh = (): IntakeActivity => ({ lastReceivedAt: null, activeSince: null });

describe("senders first: background work's mode from intake activity", () => {
  it("runs when nothing was ever received", () => {
    expect(backgroundMode(fresh(), 5_000, cfg)).toBe("run");
  });

  it("yields while instances arrive, and runs again once the senders have been quiet for quietMs", () => {
    const a = fresh();
    for (let t = 10_000; t <= 15_000; t += 200) noteReceived(a, t, cfg);
    expect(backgroundMode(a, 15_100, cfg)).toBe("yield");
    expect(backgroundMode(a, 15_999, cfg)).toBe("yield");
    expect(backgroundMode(a, 16_000, cfg)).toBe("run");
  });

  it("shares after maxYieldMs of continuous intake, so that a long transfer cannot starve it", () => {
    const a = fresh();
    for (let t = 0; t <= 40_000; t += 500) noteReceived(a, t, cfg);
    expect(a.activeSince).toBe(0);
    expect(backgroundMode(a, 29_000, cfg)).toBe("yield");
    expect(backgroundMode(a, 40_100, cfg)).toBe("share");
  });

  it("a pause longer than quietMs starts a new burst, with a new yield allowance", () => {
    const a = fresh();
    for (let t = 0; t <= 35_000; t += 500) noteReceived(a, t, cfg);
    expect(backgroundMode(a, 35_100, cfg)).toBe("share");
    noteReceived(a, 37_000, cfg);
    expect(a.activeSince).toBe(37_000);
    expect(backgroundMode(a, 37_100, cfg)).toBe("yield");
  });

  it("never yields when maxYieldMs is 0", () => {
    const a = fresh();
    noteReceived(a, 1_000, cfg);
    expect(backgroundMode(a, 1_001, { ...cfg, maxYieldMs: 0 })).toBe("run");
  });
});
