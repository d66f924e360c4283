// The archive state machine's rules (lib/archive/state), without database or queue.
import { describe, expect, it } from "vitest";
import { archiveJobId, failureReason, jobDecision, nextAttemptAt, uidsFromOutputPath } from "@/lib/archive/state";

const now = new Date("2026-01-01T00:00:00Z");
const policy = { baseDelayMs: 1_000, maxDelayMs: 5_000, maxAttempts: 5 };

describe("archive state rules", () => {
  it("backs off exponentially up to a cap, and stops after the last attempt", () => {
    const gaps = [1, 2, 3, 4, 5].map((a) => nextAttemptAt(a, now, policy)?.getTime() ?? null).map((t) => (t === null ? null : t - now.getTime()));
    expect(gaps).toEqual([1_000, 2_000, 4_000, 5_000, null]);
  });

  it("a job starts the next attempt, resumes its own unfinished one, and is stale otherwise", () => {
    expect(jobDecision({ state: "queued", attempts: 0, nextAttemptAt: null }, 1, now)).toBe("start");
    expect(jobDecision({ state: "queued", attempts: 0, nextAttemptAt: null }, 2, now)).toBe("stale");
    expect(jobDecision({ state: "failed", attempts: 1, nextAttemptAt: new Date(now.getTime() + 60_000) }, 2, now)).toBe("stale");
    expect(jobDecision({ state: "failed", attempts: 1, nextAttemptAt: now }, 2, now)).toBe("start");
    expect(jobDecision({ state: "failed", attempts: 5, nextAttemptAt: null }, 6, now)).toBe("stale");
    expect(jobDecision({ state: "sending", attempts: 2, nextAttemptAt: null }, 2, now)).toBe("resume");
    expect(jobDecision({ state: "verifying", attempts: 2, nextAttemptAt: null }, 2, now)).toBe("resume");
    expect(jobDecision({ state: "sending", attempts: 2, nextAttemptAt: null }, 1, now)).toBe("stale");
    expect(jobDecision({ state: "archived", attempts: 1, nextAttemptAt: null }, 1, now)).toBe("stale");
  });

  it("job ids are unique per hand-off and attempt, and valid for BullMQ", () => {
    const a = archiveJobId("cabc", now, 1);
    expect(a).not.toContain(":");
    expect(a).not.toBe(archiveJobId("cabc", now, 2));
    expect(a).not.toBe(archiveJobId("cabc", new Date(now.getTime() + 1), 1));
  });

  it("reads series and SOP UIDs from a de-identified instance's stored path", () => {
    expect(uidsFromOutputPath("projects/P/instances/1.2.3/1.2.3.4/1.2.3.4.5.dcm")).toEqual({ studyInstanceUid: "1.2.3", seriesInstanceUid: "1.2.3.4", sopInstanceUid: "1.2.3.4.5" });
    expect(() => uidsFromOutputPath("staging/abc/def.dcm")).toThrow(/not written by de-identification/);
  });

  it("failure reasons are the error's words, one line, shortened", () => {
    expect(failureReason(new Error("XNAT said no (injected).. Check it.\n  Really."))).toBe("XNAT said no (injected). Check it. Really.");
    expect(failureReason(new Error("x".repeat(5000))).length).toBe(1000);
  });
});
