// Who may call the site AE title (issue 17 §4): by default anyone; with ATRIUM_SITE_CALLING_AETS
// and/or ATRIUM_SITE_CALLING_ADDRESSES only the callers listed, refused at association with the
// DICOM reason (calling AE title not recognized / no reason given for an address), checked with
// real DCMTK echoscu and storescu against the listener. Project AE routes are not affected.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { createPeople } from "../helpers/fixtures";
import { startDicomListener } from "@/server/intake/dicom-listener";
import { addressAllowed, decideSiteCaller } from "@/lib/intake/ae";
import { SAMPLES_DIR } from "@/lib/samples";
import { freePort, run, storescuSuccesses } from "../dicom-net/helpers";
import type { ScpHandle } from "@/lib/dicom-net/scp";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-site-callers-"));
const CT = path.join(SAMPLES_DIR, "pydicom__CT_small.dcm");
let scp: ScpHandle;
let port: number;

beforeAll(async () => {
  db = await createTestDatabase();
  const people = await createPeople(db.prisma);
  await db.prisma.project.create({ data: { id: "OWNAE", idLower: "ownae", name: "OWNAE", members: { create: { userId: people.users.owner.id, role: "owner" } } } });
  await db.prisma.aeRoute.create({ data: { aeTitle: "OWNAE", projectId: "OWNAE", allowedCallingAes: [], allowedAddresses: [] } });
  port = await freePort();
  scp = await startDicomListener({ prisma: db.prisma, dataDir, port, host: "127.0.0.1" });
});
afterAll(async () => {
  await scp?.close({ timeoutMs: 2000 });
  delete process.env.ATRIUM_SITE_CALLING_AETS;
  delete process.env.ATRIUM_SITE_CALLING_ADDRESSES;
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await emptyQueuesAndDisconnect(["deid"]);
});

const echo = (aet: string, aec = "ATRIUM") => run("echoscu", ["-aet", aet, "-aec", aec, "127.0.0.1", String(port)]);

describe("the site AE title's caller allow-list", () => {
  it("without a list, any caller may send to the site AE title", async () => {
    const r = await echo("ANYONE");
    expect(r.code, r.stderr).toBe(0);
  });

  it("ATRIUM_SITE_CALLING_AETS: other calling AE titles are refused at association; listed ones send; project AE titles are not affected", async () => {
    process.env.ATRIUM_SITE_CALLING_AETS = "MODALITY1, ct_scanner";
    try {
      const refused = await echo("EVIL");
      expect(refused.code).not.toBe(0);
      expect(refused.stdout + refused.stderr).toMatch(/Reason: Calling AE Title Not Recognized/);
      const refusedStore = await run("storescu", ["-v", "-aet", "EVIL", "-aec", "ATRIUM", "127.0.0.1", String(port), CT]);
      expect(storescuSuccesses(refusedStore.stdout + refusedStore.stderr)).toEqual([]);
      expect((await echo("CT_SCANNER")).code, "case-insensitive").toBe(0);
      const ok = await run("storescu", ["-v", "-aet", "MODALITY1", "-aec", "ATRIUM", "127.0.0.1", String(port), CT]);
      expect(storescuSuccesses(ok.stdout + ok.stderr)).toEqual([CT]);
      expect((await echo("EVIL", "OWNAE")).code, "a project's AE title keeps its own rules").toBe(0);
      expect(await db.prisma.receivedInstance.count({ where: { calledAe: "ATRIUM", callingAe: "EVIL" } })).toBe(0);
      expect(await db.prisma.receivedInstance.count({ where: { calledAe: "ATRIUM", callingAe: "MODALITY1" } })).toBe(1);
    } finally {
      delete process.env.ATRIUM_SITE_CALLING_AETS;
    }
  });

  it("ATRIUM_SITE_CALLING_ADDRESSES: callers from other addresses are refused", async () => {
    process.env.ATRIUM_SITE_CALLING_ADDRESSES = "10.0.0.0/8";
    try {
      const refused = await echo("MODALITY1");
      expect(refused.code).not.toBe(0);
      expect(refused.stdout + refused.stderr).toMatch(/Association Rejected/);
      process.env.ATRIUM_SITE_CALLING_ADDRESSES = "10.0.0.0/8, 127.0.0.1";
      expect((await echo("MODALITY1")).code).toBe(0);
    } finally {
      delete process.env.ATRIUM_SITE_CALLING_ADDRESSES;
    }
  });

  it("addresses match exactly or by CIDR range, IPv4-mapped IPv6 as IPv4", () => {
    expect(addressAllowed(["10.1.0.0/16"], "10.1.200.3")).toBe(true);
    expect(addressAllowed(["10.1.0.0/16"], "10.2.0.1")).toBe(false);
    expect(addressAllowed(["192.168.1.5"], "::ffff:192.168.1.5")).toBe(true);
    expect(addressAllowed(["fd00::/8"], "fd12::1")).toBe(true);
    expect(addressAllowed(["not an address"], "10.0.0.1")).toBe(false);
    expect(decideSiteCaller({ callingAes: ["A"], addresses: ["10.0.0.1"] }, "A", "10.0.0.2")).toMatchObject({ accept: false, reason: "calling-address-not-allowed" });
    expect(decideSiteCaller({ callingAes: [], addresses: [] }, "X", null)).toEqual({ accept: true });
  });
});
