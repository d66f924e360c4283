// The intake page's live figures from the database: arrival rate and active senders over the last
// minute per way in, recent studies (pseudonyms only) with progress, recent quarantine reasons.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { intakeSummary } from "@/server/intake/summary";
import { studyProgress, ratePerSecond } from "@/lib/intake/live";

let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "LIVE", idLower: "live", name: "Live", intake: { create: { stableAfterSeconds: 100 } } } });
  const base = { stagingPath: "staging/x.dcm", sizeBytes: 1, sha256: "0".repeat(64), projectId: "LIVE" };
  const now = Date.now();
  const at = (s: number) => new Date(now - s * 1000);
  await db.prisma.receivedInstance.createMany({
    data: [
      // Two associations and one upload session in the last minute: 6 instances.
      ...[1, 2, 3].map((s) => ({ ...base, channel: "cstore" as const, batchId: "assoc-1", receivedAt: at(s), status: "deidentified" as const })),
      ...[4, 5].map((s) => ({ ...base, channel: "cstore" as const, batchId: "assoc-2", receivedAt: at(s), status: "received" as const })),
      { ...base, channel: "upload" as const, batchId: "up-1", receivedAt: at(10), status: "quarantined" as const, reason: "Not a supported image: no pixel data." },
      // Older: outside the window.
      { ...base, channel: "stow" as const, batchId: "stow-1", receivedAt: at(600), status: "deidentified" as const },
    ],
  });
  await db.prisma.intakeStudy.createMany({
    data: [
      { projectId: "LIVE", studyInstanceUid: "2.25.1", subjectLabel: "SUBJ-0001", instanceCount: 5, status: "receiving", lastInstanceAt: at(50) },
      { projectId: "LIVE", studyInstanceUid: "2.25.2", subjectLabel: "SUBJ-0002", instanceCount: 12, status: "archived", lastInstanceAt: at(900) },
    ],
  });
});
afterAll(async () => db?.drop());

it("counts what arrived in the last minute per way in, lists recent studies with progress and recent errors", async () => {
  const s = await intakeSummary(db.prisma, "LIVE");
  expect(s.live.instancesInWindow).toBe(6);
  expect(s.live.instancesPerSecond).toBe(0.1);
  expect(s.live.activeBatches).toEqual([
    { channel: "cstore", batches: 2, instances: 5 },
    { channel: "upload", batches: 1, instances: 1 },
  ]);
  expect(s.live.recentStudies.map((x) => [x.subjectLabel, x.instanceCount, x.status])).toEqual([
    ["SUBJ-0001", 5, "receiving"],
    ["SUBJ-0002", 12, "archived"],
  ]);
  // Half-way through its 100 s quiet period: a quarter of the way to archived.
  expect(s.live.recentStudies[0]!.progress).toBeGreaterThanOrEqual(24);
  expect(s.live.recentStudies[0]!.progress).toBeLessThanOrEqual(26);
  expect(s.live.recentStudies[1]!.progress).toBe(100);
  expect(s.live.recentErrors.map((e) => [e.channel, e.reason])).toEqual([["upload", "Not a supported image: no pixel data."]]);
  // No original UID anywhere in what the page gets.
  expect(JSON.stringify(s.live)).not.toMatch(/2\.25\./);
});

it("reports progress from first instance to archive", () => {
  const now = new Date();
  expect(studyProgress("receiving", now, now, 60)).toBe(0);
  expect(studyProgress("receiving", new Date(now.getTime() - 600_000), now, 60)).toBe(49);
  expect(studyProgress("stable", now, now, 60)).toBe(50);
  expect(studyProgress("archiving", now, now, 60)).toBe(75);
  expect(studyProgress("archived", now, now, 60)).toBe(100);
  expect(ratePerSecond(90)).toBe(1.5);
});
