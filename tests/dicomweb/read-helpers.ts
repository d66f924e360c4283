// DICOMweb read tests: every /dicomweb route handler over real HTTP, a local archive filled from
// the shared samples through the local archive driver, and a reader for multipart responses.
import { rmSync, statSync } from "node:fs";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import { experimentLabel, type ArchiveStudy } from "@/lib/archive/driver";
import { readIndexHeader } from "@/lib/archive/index-header";
import type { BlobStore } from "@/lib/blob";
import { parseMediaType, parseMultipart } from "@/lib/http/multipart-related";
import { SAMPLES_DIR } from "@/lib/samples";
import { createLocalArchiveDriver } from "@/server/archive/local-driver";
import { setDbHandle } from "@/server/db";
import { startRouteServer } from "../helpers/route-server";

type Ctx<P> = { params: Promise<P> };

/** All DICOMweb routes (STOW and reads), as Next.js would route them. */
export async function startDicomwebReadServer() {
  const studiesRoot = await import("@/app/dicomweb/studies/route");
  const studyRoot = await import("@/app/dicomweb/studies/[study]/route");
  const studies = await import("@/app/dicomweb/projects/[projectId]/studies/route");
  const below = await import("@/app/dicomweb/projects/[projectId]/studies/[...path]/route");
  const series = await import("@/app/dicomweb/projects/[projectId]/series/route");
  const instances = await import("@/app/dicomweb/projects/[projectId]/instances/route");
  const P = "\\/dicomweb\\/projects\\/(?<projectId>[^/]+)";
  return startRouteServer([
    { method: "POST", pattern: /^\/dicomweb\/studies\/?$/, handler: (req) => studiesRoot.POST(req) },
    { method: "POST", pattern: /^\/dicomweb\/studies\/(?<study>[^/]+)\/?$/, handler: (req, ctx) => studyRoot.POST(req, ctx as Ctx<{ study: string }>) },
    { method: "POST", pattern: new RegExp(`^${P}\\/studies\\/?$`), handler: (req, ctx) => studies.POST(req, ctx as Ctx<{ projectId: string }>) },
    { method: "GET", pattern: new RegExp(`^${P}\\/studies\\/?$`), handler: (req, ctx) => studies.GET(req, ctx as Ctx<{ projectId: string }>) },
    { method: "GET", pattern: new RegExp(`^${P}\\/series\\/?$`), handler: (req, ctx) => series.GET(req, ctx as Ctx<{ projectId: string }>) },
    { method: "GET", pattern: new RegExp(`^${P}\\/instances\\/?$`), handler: (req, ctx) => instances.GET(req, ctx as Ctx<{ projectId: string }>) },
    {
      method: "GET",
      pattern: new RegExp(`^${P}\\/studies\\/(?<path>.+)$`),
      handler: async (req, ctx) => {
        const p = await ctx.params;
        // Next.js hands a catch-all's segments decoded.
        return below.GET(req, { params: Promise.resolve({ projectId: decodeURIComponent(p.projectId!), path: p.path!.split("/").map(decodeURIComponent) }) });
      },
    },
  ]);
}

export interface ArchivedFile {
  name: string;
  file: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
}

/** Sends the named samples into `projectId`'s local archive (one archive study per Study Instance UID); SOP UIDs seen twice are skipped. */
export async function archiveSamples(prisma: PrismaClient, projectId: string, names: string[], store?: BlobStore): Promise<ArchivedFile[]> {
  const seen = new Set<string>();
  const files: ArchivedFile[] = [];
  for (const name of names) {
    const file = path.join(SAMPLES_DIR, name);
    const h = readIndexHeader(file);
    if (!h.sopInstanceUid || !h.studyInstanceUid || !h.seriesInstanceUid || seen.has(h.sopInstanceUid)) continue;
    seen.add(h.sopInstanceUid);
    files.push({ name, file, studyInstanceUid: h.studyInstanceUid, seriesInstanceUid: h.seriesInstanceUid, sopInstanceUid: h.sopInstanceUid, transferSyntaxUid: h.transferSyntaxUid });
  }
  const driver = createLocalArchiveDriver(prisma, store);
  const byStudy = new Map<string, ArchivedFile[]>();
  for (const f of files) byStudy.set(f.studyInstanceUid, [...(byStudy.get(f.studyInstanceUid) ?? []), f]);
  let n = 0;
  for (const [studyUid, list] of byStudy) {
    const subject = `SUBJ_${String(++n).padStart(3, "0")}`;
    const study: ArchiveStudy = {
      studyId: `study_${projectId}_${n}`,
      projectId,
      studyInstanceUid: studyUid,
      subjectLabel: subject,
      experimentLabel: experimentLabel(subject, studyUid),
      instances: list.map((f, i) => ({ instanceId: `ri_${n}_${i}`, path: f.file, sizeBytes: statSync(f.file).size, seriesInstanceUid: f.seriesInstanceUid, sopInstanceUid: f.sopInstanceUid })),
    };
    await driver.send(study);
  }
  return files;
}

export interface ReadPart {
  headers: Map<string, string>;
  body: Buffer;
}

/** Reads a multipart/related response strictly (framing errors fail the test). */
export async function readMultipart(res: Response): Promise<{ type: string | undefined; parts: ReadPart[] }> {
  const ct = parseMediaType(res.headers.get("content-type"));
  if (!ct || ct.type !== "multipart/related") throw new Error(`not multipart/related: ${res.headers.get("content-type")}`);
  const parts: ReadPart[] = [];
  for await (const p of parseMultipart(res.body as unknown as AsyncIterable<Uint8Array>, ct.params.get("boundary")!)) {
    const chunks: Buffer[] = [];
    for await (const c of p.body) chunks.push(c);
    parts.push({ headers: p.headers, body: Buffer.concat(chunks) });
  }
  return { type: ct.params.get("type"), parts };
}

/** After a DICOMweb test file: the queues and Redis it opened, its database handle and test database, its data directory. */
export async function closeReadTest(db: { drop(): Promise<void> } | undefined, dataDir: string): Promise<void> {
  const { closeQueues } = await import("@/server/queues");
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
