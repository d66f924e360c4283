// Burned-in identifiers in pixels, through intake, the archive and the read routes: ultrasound and
// secondary-capture samples are held for a pixel review (not archived, not served by QIDO/WADO or
// downloads); a release with regions blanks them (pixel values checked) and saves a pixel rule that
// blanks the same scanner model automatically next time; a compressed image the rule matches stays
// held with its reason; delete removes it; every decision is audited.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { setDbHandle } from "@/server/db";
import { SAMPLES_DIR } from "@/lib/samples";
import { parseDicom, findElement, numberValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { stageFile } from "../archive/helpers-intake";
import { emptyQueuesAndDisconnect } from "../helpers/queues";
import type { RouteServer } from "../helpers/route-server";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-pixels-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-pixels-${process.pid}-${randomBytes(3).toString("hex")}`;

const P = "PIXELS";
const US = "pydicom-data__US1_UNCR.dcm"; // ultrasound, native RGB
const US_J2K = "pydicom-data__US1_J2KR.dcm"; // the same scanner's image, JPEG 2000
const FACE = "pydicom-data__OT-PAL-8-face.dcm"; // secondary capture: a face photograph
const CT = "pydicom__CT_small.dcm"; // not a burned-in candidate

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let web: RouteServer;
let dl: RouteServer;
let cookie: string;

function pixelsOf(buf: Buffer) {
  const f = parseDicom(new BufferSource(buf));
  const el = findElement(f.dataset, 0x7fe00010)!;
  return { data: Buffer.from(f.pixelSource.readAt(el.valueOffset, el.length)), cols: numberValue(f.dataset, 0x00280011)!, rows: numberValue(f.dataset, 0x00280010)! };
}

async function ingest(file: string) {
  const { deidentifyInstance } = await import("@/server/intake/deidentify");
  const rec = await stageFile(db.prisma, dataDir, P, file, "pixels-test");
  return { id: rec.id, result: await deidentifyInstance(db.prisma, dataDir, rec.id) };
}

/** Stable studies → archive (the local archive), as the workers' sweep does, without waiting. */
async function archiveAll() {
  const { markStableStudies } = await import("@/server/intake/deidentify");
  const { handStableStudies } = await import("@/server/archive/queue");
  const { runArchiveAttempt } = await import("@/server/archive/run");
  await markStableStudies(db.prisma, new Date(Date.now() + 3600_000));
  await handStableStudies(db.prisma);
  for (const a of await db.prisma.studyArchive.findMany({ where: { projectId: P, state: "queued" } })) {
    expect(await runArchiveAttempt(db.prisma, dataDir, a.studyId, a.attempts + 1)).toBe("archived");
  }
}

const get = (p: string) => fetch(`${web.url}${p}`, { headers: { cookie, accept: "application/dicom+json, multipart/related; type=\"application/dicom\", */*" } });

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  await db.prisma.project.create({
    data: { id: P, idLower: P.toLowerCase(), name: "Pixels", members: { create: [{ userId: people.users.owner.id, role: "owner" }, { userId: people.users.member.id, role: "member" }] } },
  });
  await db.prisma.projectIntake.create({ data: { projectId: P, stableAfterSeconds: 5 } });
  const { createSession, SESSION_COOKIE } = await import("@/server/auth/session");
  cookie = `${SESSION_COOKIE}=${(await createSession(db.prisma, people.users.owner.id)).token}`;
  const { startDicomwebReadServer } = await import("../dicomweb/read-helpers");
  web = await startDicomwebReadServer();
  const { startRouteServer } = await import("../helpers/route-server");
  const download = await import("@/app/api/projects/[projectId]/download/route");
  dl = await startRouteServer([{ method: "POST", pattern: /^\/api\/projects\/(?<projectId>[^/]+)\/download$/, handler: (req, ctx) => download.POST(req, ctx as { params: Promise<{ projectId: string }> }) }]);
});

/** The zip of every experiment of the project's archive (store mode: the files verbatim). */
async function downloadAll(): Promise<Buffer> {
  const experiments = (await db.prisma.archiveExperiment.findMany({ where: { projectId: P }, select: { id: true } })).map((e) => e.id);
  const r = await fetch(`${dl.url}/api/projects/${P}/download`, { method: "POST", headers: { cookie, "content-type": "application/json" }, body: JSON.stringify({ experiments }) });
  expect(r.status).toBe(200);
  return Buffer.from(await r.arrayBuffer());
}
afterAll(async () => {
  await web?.close();
  await dl?.close();
  await emptyQueuesAndDisconnect(["archive", "deid"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("pixel review", () => {
  const ids: Record<string, string> = {};
  let heldBefore: Buffer;

  it("every ultrasound and secondary-capture image of the samples ends in 'needs review', never filed as de-identified", { timeout: 120_000 }, async () => {
    const manifest = readFileSync(path.join(SAMPLES_DIR, "MANIFEST.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
    const candidates = manifest.filter((r) => /Ultrasound|Secondary Capture/.test(r[6] ?? "")).map((r) => r[0]!);
    expect(candidates.length).toBeGreaterThan(15);
    const outcomes: Record<string, string> = {};
    for (const name of [...new Set(candidates)]) {
      const { id, result } = await ingest(path.join(SAMPLES_DIR, name));
      outcomes[name] = result;
      ids[name] = id;
    }
    // Filed without review: only files without pixel data (charset samples), or whose sender
    // declares Burned In Annotation NO (the Clean Pixel Data option holds those too).
    const filed = Object.entries(outcomes).filter(([, r]) => r === "deidentified");
    for (const [name] of filed) {
      const ds = parseDicom(new BufferSource(readFileSync(path.join(SAMPLES_DIR, name)))).dataset;
      const bia = findElement(ds, 0x00280301);
      const declaredNo = bia && bia.buf.toString("latin1", bia.valueOffset, bia.valueOffset + bia.length).trim() === "NO";
      expect(!findElement(ds, 0x7fe00010) || declaredNo, `${name} has pixel data and was filed without review`).toBe(true);
    }
    for (const name of [US, US_J2K, FACE, "pydicom-data__gdcm-US-ALOKA-16.dcm", "pydicom-data__OBXXXX1A.dcm"]) expect(outcomes[name], name).toBe("held");
    const held = await db.prisma.receivedInstance.findMany({ where: { projectId: P, status: "review" }, select: { id: true, reasonCode: true, studyId: true, outputPath: true } });
    expect(held.length).toBe(Object.values(outcomes).filter((r) => r === "held").length);
    expect(held.every((h) => h.reasonCode === "burned_in_annotation" && h.studyId === null && h.outputPath)).toBe(true);
    expect(await db.prisma.pixelReview.count({ where: { projectId: P, decision: null } })).toBe(held.length);
    // Members see the queue; its counts feed the Intake and Browse badges.
    const asMember = await callerFor(db.prisma, people.sessions.member).pixels.held({ projectId: P, reasonCode: "burned_in_annotation" });
    expect(asMember.total).toBe(held.length);
    const summary = await callerFor(db.prisma, people.sessions.member).intake.summary({ projectId: P });
    expect(summary.instances.review).toBe(held.length);
  });

  it("held instances are not archived, not in QIDO, and WADO-RS does not serve them", { timeout: 60_000 }, async () => {
    const ct = await ingest(path.join(SAMPLES_DIR, CT));
    expect(ct.result).toBe("deidentified");
    await archiveAll();
    const review = await db.prisma.pixelReview.findUniqueOrThrow({ where: { instanceId: ids[US]! } });
    const inst = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: ids[US]! } });
    const { uidsFromOutputPath } = await import("@/lib/archive/state");
    const u = uidsFromOutputPath(inst.outputPath!);
    expect(u.studyInstanceUid).toBe(review.studyInstanceUid);
    // The archive holds what was filed, and none of the held instances.
    const heldRows = await db.prisma.receivedInstance.findMany({ where: { projectId: P, status: "review" }, select: { outputPath: true } });
    const heldSops = heldRows.map((h) => uidsFromOutputPath(h.outputPath!).sopInstanceUid);
    expect(await db.prisma.archiveInstance.count({ where: { scan: { experiment: { projectId: P } } } })).toBe(await db.prisma.receivedInstance.count({ where: { projectId: P, status: "deidentified" } }));
    expect(await db.prisma.archiveInstance.count({ where: { sopInstanceUid: { in: heldSops } } })).toBe(0);
    expect(await db.prisma.archiveExperiment.count({ where: { projectId: P, studyInstanceUid: u.studyInstanceUid } })).toBe(0);
    const qido = await get(`/dicomweb/projects/${P}/studies`);
    expect(qido.status).toBe(200);
    const studies = (await qido.json()) as Record<string, { Value?: string[] }>[];
    expect(studies.map((s) => s["0020000D"]?.Value?.[0])).not.toContain(u.studyInstanceUid);
    const qi = await get(`/dicomweb/projects/${P}/instances?SOPInstanceUID=${u.sopInstanceUid}`);
    expect([200, 204]).toContain(qi.status);
    if (qi.status === 200) expect(await qi.json()).toEqual([]);
    const wado = await get(`/dicomweb/projects/${P}/studies/${u.studyInstanceUid}/series/${u.seriesInstanceUid}/instances/${u.sopInstanceUid}`);
    expect(wado.status).toBe(404);
    await wado.arrayBuffer();
    heldBefore = readFileSync(path.join(dataDir, inst.outputPath!));
    // A download of everything in the archive has none of them.
    const zip = await downloadAll();
    expect(zip.length).toBeGreaterThan(10_000);
    for (const sop of heldSops) expect(zip.includes(Buffer.from(sop)), `held ${sop} in the download`).toBe(false);
  });

  it("a release blanks the drawn region (pixel values), saves a pixel rule, files the instance and it is served", { timeout: 60_000 }, async () => {
    const owner = callerFor(db.prisma, people.sessions.owner);
    const item = await owner.pixels.get({ projectId: P, instanceId: ids[US]! });
    expect(item.blankable).toBe(true);
    const region = { x: 0, y: 0, w: 120, h: 40 };
    await expect(owner.pixels.release({ projectId: P, instanceId: ids[US]!, regions: [{ x: 6400, y: 0, w: 10, h: 10 }] })).rejects.toThrow(/lies outside this 640×480 image/);
    const r = await owner.pixels.release({
      projectId: P,
      instanceId: ids[US]!,
      regions: [region],
      saveRule: {
        conditions: [
          { keyword: "Manufacturer", value: item.manufacturer },
          { keyword: "ManufacturerModelName", value: item.modelName },
          { keyword: "Rows", value: String(item.rows) },
          { keyword: "Columns", value: String(item.columns) },
        ],
        description: "header band",
      },
    });
    expect(r.ruleId).toBeTruthy();
    const inst = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: ids[US]! } });
    expect(inst.status).toBe("deidentified");
    expect(inst.studyId).toBeTruthy();
    const after = readFileSync(path.join(dataDir, inst.outputPath!));
    const a = pixelsOf(after);
    const b = pixelsOf(heldBefore);
    const spp = a.data.length / (a.rows * a.cols);
    let nonZeroInside = 0;
    let changedOutside = 0;
    let nonZeroBefore = 0;
    for (let y = 0; y < a.rows; y++) {
      for (let x = 0; x < a.cols; x++) {
        const o = (y * a.cols + x) * spp;
        const inside = x < region.w && y < region.h;
        const pa = a.data.subarray(o, o + spp);
        const pb = b.data.subarray(o, o + spp);
        if (inside && pa.some((v) => v !== 0)) nonZeroInside++;
        if (inside && pb.some((v) => v !== 0)) nonZeroBefore++;
        if (!inside && !pa.equals(pb)) changedOutside++;
      }
    }
    expect(nonZeroBefore, "the sample has something to blank there").toBeGreaterThan(0);
    expect(nonZeroInside).toBe(0);
    expect(changedOutside).toBe(0);
    const ds = parseDicom(new BufferSource(after)).dataset;
    const bia = findElement(ds, 0x00280301)!;
    expect(bia.buf.toString("latin1", bia.valueOffset, bia.valueOffset + bia.length).trim()).toBe("NO");
    expect(after.includes(Buffer.from("113101"))).toBe(true);

    const audit = await db.prisma.auditEvent.findMany({ where: { projectId: P }, select: { action: true, targetId: true } });
    expect(audit).toEqual(expect.arrayContaining([{ action: "pixels.release", targetId: ids[US] }, { action: "pixels.rule.create", targetId: r.ruleId }]));

    await archiveAll();
    const { uidsFromOutputPath } = await import("@/lib/archive/state");
    const u = uidsFromOutputPath(inst.outputPath!);
    const wado = await fetch(`${web.url}/dicomweb/projects/${P}/studies/${u.studyInstanceUid}/series/${u.seriesInstanceUid}/instances/${u.sopInstanceUid}`, { headers: { cookie } });
    expect(wado.status).toBe(200);
    const body = Buffer.from(await wado.arrayBuffer());
    expect(body.includes(after.subarray(after.length - 4096)), "WADO serves the blanked file").toBe(true);
    const qido = (await (await get(`/dicomweb/projects/${P}/studies`)).json()) as Record<string, { Value?: string[] }>[];
    expect(qido.map((s) => s["0020000D"]?.Value?.[0])).toContain(u.studyInstanceUid);
    expect((await downloadAll()).includes(after.subarray(after.length - 4096)), "the download has the blanked file").toBe(true);
  });

  it("the saved rule blanks the same scanner model automatically: a new image is filed blanked, not held", { timeout: 60_000 }, async () => {
    const copy = path.join(dataDir, "us-copy.dcm");
    copyFileSync(path.join(SAMPLES_DIR, US), copy);
    execFileSync("dcmodify", ["-nb", "-m", "(0008,0018)=1.2.826.0.1.3680043.10.999.1", copy]);
    const { id, result } = await ingest(copy);
    expect(result).toBe("deidentified");
    const inst = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id } });
    const a = pixelsOf(readFileSync(path.join(dataDir, inst.outputPath!)));
    const spp = a.data.length / (a.rows * a.cols);
    let nonZeroInside = 0;
    for (let y = 0; y < 40; y++) for (let x = 0; x < 120; x++) if (a.data.subarray((y * a.cols + x) * spp, (y * a.cols + x + 1) * spp).some((v) => v !== 0)) nonZeroInside++;
    expect(nonZeroInside).toBe(0);
    expect(pixelsOf(readFileSync(copy)).data.equals(a.data)).toBe(false);
  });

  it("a compressed image the rule matches is held with a clear reason; blanking it is refused; delete removes it (audited)", { timeout: 60_000 }, async () => {
    const owner = callerFor(db.prisma, people.sessions.owner);
    // The JPEG 2000 copy was held before the rule existed: delete it and receive it again.
    await owner.pixels.delete({ projectId: P, instanceId: ids[US_J2K]! });
    expect(await db.prisma.receivedInstance.findUnique({ where: { id: ids[US_J2K]! } })).toBeNull();
    const again = await ingest(path.join(SAMPLES_DIR, US_J2K));
    expect(again.result, "a resend after delete is not a duplicate").toBe("held");
    const inst = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: again.id } });
    expect(inst.reasonCode).toBe("pixel_blanking_unsupported");
    expect(inst.reason).toMatch(/compressed.*1\.2\.840\.10008\.1\.2\.4\.90/);
    await expect(owner.pixels.release({ projectId: P, instanceId: again.id, regions: [{ x: 0, y: 0, w: 10, h: 10 }] })).rejects.toThrow(/compressed/);
    await owner.pixels.delete({ projectId: P, instanceId: again.id });
    expect(existsSync(path.join(dataDir, inst.outputPath!))).toBe(false);
    const audit = await db.prisma.auditEvent.count({ where: { projectId: P, action: "pixels.delete" } });
    expect(audit).toBe(2);
    // The face photograph: deleted, never served.
    await owner.pixels.delete({ projectId: P, instanceId: ids[FACE]! });
    expect(await db.prisma.pixelReview.findUniqueOrThrow({ where: { instanceId: ids[FACE]! } })).toMatchObject({ decision: "deleted" });
  });

  it("rules: a signature that does not parse is refused with the reason; changes and removal are audited", async () => {
    const owner = callerFor(db.prisma, people.sessions.owner);
    await expect(owner.pixels.createRule({ projectId: P, signature: 'Manufacturer.equals("X") garbage', regions: [] })).rejects.toThrow(/does not parse/);
    const { id } = await owner.pixels.createRule({ projectId: P, signature: 'Modality.equals("OT")', regions: [{ x: 0, y: 0, w: 5, h: 5 }] });
    await owner.pixels.updateRule({ projectId: P, ruleId: id, enabled: false });
    await owner.pixels.removeRule({ projectId: P, ruleId: id });
    const actions = (await db.prisma.auditEvent.findMany({ where: { projectId: P, targetId: id }, orderBy: { id: "asc" } })).map((a) => a.action);
    expect(actions).toEqual(["pixels.rule.create", "pixels.rule.update", "pixels.rule.remove"]);
    const { script } = await owner.pixels.rules({ projectId: P });
    expect(script).toMatch(/\{ Manufacturer\.equals\(".*"\) \* ManufacturerModelName\.equals\(".*"\) \* Rows\.equals\("\d+"\) \* Columns\.equals\("\d+"\) \}\n {2}\(0,0,120,40\)/);
  });
});
