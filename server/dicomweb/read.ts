// DICOMweb reads of the local archive (QIDO-RS, WADO-RS, rendered, thumbnails) for one project,
// after requireDicomwebAccess: the route handlers call handleQido / handleWado with the project and
// the request; the protocol logic lives in lib/dicomweb. Errors use the DICOMweb status codes
// (400 bad request, 404 no such resource, 406 not acceptable) with a JSON body saying what to do.
import type { PrismaClient } from "@/server/db/generated/client";
import { sqlRows } from "@/server/db";
import { LRUCache } from "lru-cache";
import { trustProxy } from "@/lib/config";
import { archiveBlobStore, BlobNotFoundError, type BlobStore } from "@/lib/blob";
import { parseDicom, type ParsedFile } from "@/lib/dicom/parse";
import { BufferSource, FileSource } from "@/lib/dicom/source";
import { TAG } from "@/lib/dicom/dictionary";
import { isUncompressedSyntax, negotiateBulk, negotiateFrames, negotiateInstances, negotiateJson, negotiatePng } from "@/lib/dicomweb/accept";
import { bulkValueBytes, frameBytes, FrameError, parseFrameList, pixelInfo, type PixelInfo } from "@/lib/dicomweb/frames";
import { BINARY_VRS, elementAtPath, toDicomJson } from "@/lib/dicomweb/json";
import { multipartContentType, multipartStream, newBoundary, type OutPart } from "@/lib/dicomweb/multipart";
import { parseResource, type Resource } from "@/lib/dicomweb/paths";
import { parseQuery, QidoError, resultJson, type InstanceRow, type Level, type SeriesRow, type StudyRow } from "@/lib/dicomweb/qido";
import { runQido } from "@/server/dicomweb/qido-db";
import { ifNoneMatchHits, storedBytesEtag } from "@/lib/dicomweb/validators";
import { parseViewport, parseWindow, RenderError, renderFramePngAsync } from "@/lib/dicomweb/render";
import { indexGeometry, indexHeaderOf } from "@/lib/archive/index-header";
import { orderInstances } from "@/lib/viewer/order";
import { childLog } from "@/lib/log";

const log = childLog("dicomweb");

export interface ReadContext {
  prisma: PrismaClient;
  projectId: string;
  /** The blob store (default: the local archive's). */
  store?: BlobStore;
  /**
   * Called before stored bytes of a study are returned (retrieve, metadata, frames, bulk data), once
   * the study is found: the route audits the read (server/dicomweb/read-audit).
   */
  onStoredRead?: (studyInstanceUid: string, what: "retrieve" | "metadata" | "frames" | "pixeldata" | "bulkdata") => Promise<void>;
}

const DICOM_JSON = "application/dicom+json";
const THUMBNAIL_SIZE = 128;

function error(status: number, message: string): Response {
  return Response.json({ error: message }, { status, headers: { "cache-control": "no-store" } });
}

const HOST_RE = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The project's DICOMweb root as the client sees it (RetrieveURL, BulkDataURI): the Host the client
 * connected to. X-Forwarded-Host and -Proto count only with ATRIUM_TRUST_PROXY=1 (a proxy in front
 * sets them); otherwise any client could make the answer point elsewhere (`atrium start` also drops
 * them from requests before Next.js sees them).
 */
export function rootUrl(req: Request, projectId: string): string {
  const url = new URL(req.url);
  let scheme = url.protocol.replace(":", "");
  let host = url.host;
  const direct = req.headers.get("host")?.trim();
  if (direct && HOST_RE.test(direct)) host = direct;
  if (trustProxy()) {
    const proto = req.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
    const fwdHost = req.headers.get("x-forwarded-host")?.split(",")[0]?.trim();
    if (proto === "https" || proto === "http") scheme = proto;
    if (fwdHost && HOST_RE.test(fwdHost)) host = fwdHost;
  }
  const origin = `${scheme}://${host}`;
  return `${origin}/dicomweb/projects/${encodeURIComponent(projectId)}`;
}

const studyUrl = (root: string, s: string) => `${root}/studies/${s}`;
const seriesUrl = (root: string, s: string, se: string) => `${studyUrl(root, s)}/series/${se}`;
const instanceUrl = (root: string, s: string, se: string, i: string) => `${seriesUrl(root, s, se)}/instances/${i}`;

// ---- QIDO-RS ---------------------------------------------------------------------------------

/** QIDO-RS: studies, series or instances of the project; `fixed` holds the UIDs from the path. */
export async function handleQido(req: Request, ctx: ReadContext, level: Level, fixed: { study?: string; series?: string } = {}): Promise<Response> {
  if (!negotiateJson(req.headers.get("accept"))) {
    return error(406, "QIDO-RS answers in application/dicom+json; ask for that (or application/json).");
  }
  const url = new URL(req.url);
  let query;
  try {
    query = parseQuery(url.searchParams, level);
  } catch (e) {
    if (e instanceof QidoError) return error(400, e.message);
    throw e;
  }
  if (fixed.study) query.match.StudyInstanceUID = { kind: "uids", values: [fixed.study] };
  if (fixed.series) query.match.SeriesInstanceUID = { kind: "uids", values: [fixed.series] };
  const { rows, truncated } = await runQido(ctx.prisma, ctx.projectId, query);
  const root = rootUrl(req, ctx.projectId);
  const body = rows.map((r) => {
    const retrieve =
      level === "study"
        ? studyUrl(root, r.studyInstanceUid)
        : level === "series"
          ? seriesUrl(root, r.studyInstanceUid, (r as SeriesRow).seriesInstanceUid)
          : instanceUrl(root, r.studyInstanceUid, (r as InstanceRow).seriesInstanceUid, (r as InstanceRow).sopInstanceUid);
    return resultJson(level, query.include, r as StudyRow, retrieve);
  });
  const headers = new Headers({ "content-type": DICOM_JSON, "cache-control": "private, no-cache" });
  if (truncated) headers.append("warning", `299 atrium "There are more matches than returned; ask for the next page with offset=${query.offset + rows.length}."`);
  if (query.ignored.length) headers.append("warning", `299 atrium "The following query keys are not supported and were ignored: ${query.ignored.join(", ").slice(0, 300)}"`);
  return new Response(JSON.stringify(body), { status: 200, headers });
}

// ---- lookups -----------------------------------------------------------------------------------

interface StoredInstance {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  blobKey: string;
  sizeBytes: bigint;
  sha256: string;
  rows: number | null;
  seriesNumber: number | null;
}

async function storedInstances(ctx: ReadContext, ids: { study: string; series?: string; instance?: string }): Promise<StoredInstance[]> {
  // A prepared statement per shape of the request (every frame a viewer loads asks it once).
  const params: string[] = [ctx.projectId, ids.study];
  let where = "";
  if (ids.series) where += ` AND sc."seriesInstanceUid" = $${params.push(ids.series)}`;
  if (ids.instance) where += ` AND i."sopInstanceUid" = $${params.push(ids.instance)}`;
  const rows = await sqlRows<{ seriesInstanceUid: string; seriesNumber: number | null; sopInstanceUid: string; transferSyntaxUid: string; blobKey: string; sizeBytes: string | number | bigint; sha256: string; rows: number | null }>(
    ctx.prisma,
    `SELECT sc."seriesInstanceUid", sc."seriesNumber", i."sopInstanceUid", i."transferSyntaxUid", i."blobKey", i."sizeBytes", i.sha256, i.rows
       FROM "ArchiveInstance" i JOIN "ArchiveScan" sc ON sc.id = i."scanId" JOIN "ArchiveExperiment" e ON e.id = sc."experimentId"
      WHERE e."projectId" = $1 AND e."studyInstanceUid" = $2${where}
      ORDER BY sc."seriesNumber", sc."seriesInstanceUid", i."instanceNumber", i."sopInstanceUid"`,
    params,
    `dicomweb.instances.${ids.series ? "series" : ""}${ids.instance ? "instance" : ""}`,
  );
  return rows.map((r) => ({
    studyInstanceUid: ids.study,
    seriesInstanceUid: r.seriesInstanceUid,
    sopInstanceUid: r.sopInstanceUid,
    transferSyntaxUid: r.transferSyntaxUid,
    blobKey: r.blobKey,
    sizeBytes: BigInt(r.sizeBytes),
    sha256: r.sha256,
    rows: r.rows,
    seriesNumber: r.seriesNumber,
  }));
}

function notFound(ids: { series?: string; instance?: string }): Response {
  const what = ids.instance ? "instance" : ids.series ? "series" : "study";
  return error(404, `No such ${what} in this project's archive. Search with QIDO-RS (GET …/studies) for what is there.`);
}

/**
 * The SOP Instance UID of a series' first image as Atrium's viewer orders the series (by position
 * along the slice normal when the images are parallel slices, else by Instance Number: the same
 * orderInstances), from the geometry in the archive's index; instances indexed before it kept
 * their geometry are read once and their rows filled in. Null when the series is not there.
 */
async function firstImageOfSeries(ctx: ReadContext, study: string, series: string): Promise<string | null | "no-pixels"> {
  const images = await seriesInDisplayOrder(ctx, study, series);
  if (images === null || images === "no-pixels") return images;
  return images[0]!.sopInstanceUid;
}

interface OrderedImage {
  sopInstanceUid: string;
  blobKey: string;
  transferSyntaxUid: string;
}

/**
 * A series' instances with pixel data in the viewer's display order (lib/viewer orderInstances),
 * from the geometry in the archive's index; instances indexed before it kept their geometry are read
 * once and their rows filled in. Null when the series is not there, "no-pixels" when none has pixels.
 */
async function seriesInDisplayOrder(ctx: ReadContext, study: string, series: string): Promise<OrderedImage[] | null | "no-pixels"> {
  const rows = await sqlRows<{ id: string; sopInstanceUid: string; blobKey: string; transferSyntaxUid: string; instanceNumber: number | null; numberOfFrames: number | null; rows: number | null; geometry: { position: number[] | null; orientation: number[] | null } | null }>(
    ctx.prisma,
    `SELECT i.id, i."sopInstanceUid", i."blobKey", i."transferSyntaxUid", i."instanceNumber", i."numberOfFrames", i.rows, i.geometry
       FROM "ArchiveInstance" i JOIN "ArchiveScan" sc ON sc.id = i."scanId" JOIN "ArchiveExperiment" e ON e.id = sc."experimentId"
      WHERE e."projectId" = $1 AND e."studyInstanceUid" = $2 AND sc."seriesInstanceUid" = $3`,
    [ctx.projectId, study, series],
    "dicomweb.seriesGeometry",
  );
  if (!rows.length) return null;
  const images = rows.filter((i) => i.rows !== null && i.rows > 0);
  if (!images.length) return "no-pixels";
  const store = ctx.store ?? archiveBlobStore();
  for (const i of images) {
    if (i.geometry) continue;
    const { file, close } = await openParsed(store, i.blobKey);
    try {
      i.geometry = indexGeometry(indexHeaderOf(file.dataset, file.meta, file.syntax.transferSyntaxUID, file.syntax.littleEndian).instance);
    } finally {
      close();
    }
    await sqlRows(ctx.prisma, `UPDATE "ArchiveInstance" SET geometry = $2::jsonb WHERE id = $1 AND geometry IS NULL`, [i.id, JSON.stringify(i.geometry)], "dicomweb.fillGeometry");
  }
  const { ordered } = orderInstances(images.map((i) => ({ image: i, sopInstanceUid: i.sopInstanceUid, instanceNumber: i.instanceNumber, position: i.geometry!.position, orientation: i.geometry!.orientation, frames: Math.max(1, i.numberOfFrames ?? 1) })));
  return ordered.map((o) => o.image);
}

/** Opens a stored instance for parsing: a local file is read on demand, a remote blob is fetched. */
async function openParsed(store: BlobStore, key: string): Promise<{ file: ParsedFile; close(): void }> {
  const local = store.localPath(key);
  if (local) {
    let src: FileSource;
    try {
      src = new FileSource(local);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new BlobNotFoundError(key);
      throw e;
    }
    try {
      return { file: parseDicom(src), close: () => src.close() };
    } catch (e) {
      src.close();
      throw e;
    }
  }
  const bytes = await store.read(key);
  return { file: parseDicom(new BufferSource(bytes)), close: () => undefined };
}

// ---- WADO-RS -------------------------------------------------------------------------------------

/** GET under …/studies/{…}: dispatches on the path segments after "studies/". */
export async function handleWado(req: Request, ctx: ReadContext, segments: string[]): Promise<Response> {
  const parsed = parseResource(segments);
  if (!parsed.ok) return error(parsed.status, parsed.message);
  const r = parsed.resource;
  try {
    switch (r.kind) {
      case "qido":
        return await handleQido(req, ctx, r.level, { study: r.study, series: r.series });
      case "retrieve":
        return await retrieve(req, ctx, r);
      case "metadata":
        return await metadata(req, ctx, r);
      case "pixeldata":
        return await pixeldata(req, ctx, r);
      case "frames":
        return await frames(req, ctx, r);
      case "bulkdata":
        return await bulkdata(req, ctx, r);
      case "rendered":
      case "thumbnail":
        return await rendered(req, ctx, r);
    }
  } catch (e) {
    if (e instanceof FrameError || e instanceof RenderError) return error(e.status, e.message);
    if (e instanceof BlobNotFoundError) {
      log.error({ projectId: ctx.projectId }, "an indexed instance has no stored file");
      return error(500, "The stored file of an indexed instance is missing; a project owner should archive the study again.");
    }
    if ((e as { name?: string }).name === "DicomParseError") {
      log.error({ projectId: ctx.projectId, code: (e as { code?: string }).code }, "a stored instance cannot be parsed");
      return error(500, "A stored instance cannot be read as DICOM; a project owner should archive the study again.");
    }
    throw e;
  }
}

async function retrieve(req: Request, ctx: ReadContext, r: Extract<Resource, { kind: "retrieve" }>): Promise<Response> {
  const n = negotiateInstances(req.headers.get("accept"), Boolean(r.instance));
  if (!n.ok) return error(406, n.message);
  const instances = await storedInstances(ctx, r);
  if (!instances.length) return notFound(r);
  if (n.syntaxes !== "*") {
    const wanted = n.syntaxes;
    const other = instances.filter((i) => !wanted.has(i.transferSyntaxUid));
    if (other.length) {
      const stored = [...new Set(other.map((i) => i.transferSyntaxUid))].join(", ");
      return error(406, `${other.length} instance(s) are stored in transfer syntax ${stored} and Atrium does not transcode; ask with transfer-syntax=* (or that syntax).`);
    }
  }
  await ctx.onStoredRead?.(r.study, "retrieve");
  const store = ctx.store ?? archiveBlobStore();
  const root = rootUrl(req, ctx.projectId);
  if (!n.multipart) {
    const i = instances[0]!;
    const body = await store.get(i.blobKey);
    return new Response(nodeToWeb(body), {
      headers: { "content-type": `application/dicom; transfer-syntax=${i.transferSyntaxUid}`, "content-length": String(i.sizeBytes), "cache-control": "private, no-cache" },
    });
  }
  const boundary = newBoundary();
  const parts: OutPart[] = instances.map((i) => ({
    contentType: `application/dicom; transfer-syntax=${i.transferSyntaxUid}`,
    contentLocation: instanceUrl(root, i.studyInstanceUid, i.seriesInstanceUid, i.sopInstanceUid),
    length: Number(i.sizeBytes),
    body: () => store.get(i.blobKey),
  }));
  return new Response(multipartStream(parts, boundary), {
    headers: { "content-type": multipartContentType(boundary, "application/dicom"), "cache-control": "private, no-cache" },
  });
}

function nodeToWeb(r: NodeJS.ReadableStream): ReadableStream<Uint8Array> {
  const it = (r as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const { value, done } = await it.next();
        if (done) c.close();
        else c.enqueue(value);
      } catch (e) {
        c.error(e);
      }
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/**
 * WADO-RS metadata: a JSON array, one DICOM JSON dataset per instance. The first instance is read
 * before answering (a file that cannot be read is a 500 with a reason); the rest are streamed one
 * instance per pull, yielding to the event loop between instances, so a study of thousands of
 * instances neither blocks the process (the DICOM listener and the portal share it) nor sits in memory.
 */
async function metadata(req: Request, ctx: ReadContext, r: Extract<Resource, { kind: "metadata" }>): Promise<Response> {
  if (!negotiateJson(req.headers.get("accept"))) return error(406, "Metadata is served as application/dicom+json; ask for that.");
  const instances = await storedInstances(ctx, r);
  if (!instances.length) return notFound(r);
  await ctx.onStoredRead?.(r.study, "metadata");
  const root = rootUrl(req, ctx.projectId);
  // The JSON follows from the stored bytes and the URLs it names: a browser that has it revalidates.
  const etag = storedBytesEtag(instances.map((i) => `${i.sopInstanceUid}:${i.sha256}:${i.transferSyntaxUid}`).join(","), `metadata ${root}`, req.headers.get("accept"));
  const validators = { etag, vary: "Accept", "cache-control": "private, no-cache" };
  if (ifNoneMatchHits(req.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers: validators });
  const headers = { "content-type": DICOM_JSON, ...validators };
  const store = ctx.store ?? archiveBlobStore();
  const one = async (i: StoredInstance): Promise<string> => {
    const bulkDataBase = `${instanceUrl(root, i.studyInstanceUid, i.seriesInstanceUid, i.sopInstanceUid)}/bulkdata`;
    // The same stored bytes (by checksum) under the same URLs give the same JSON.
    const cacheKey = `${i.sha256}\0${i.transferSyntaxUid}\0${bulkDataBase}`;
    const cached = metadataCache.get(cacheKey);
    if (cached !== undefined) return cached;
    const { file, close } = await openParsed(store, i.blobKey);
    try {
      const json = toDicomJson(file.dataset, { littleEndian: file.syntax.littleEndian, bulkDataBase });
      json["00083002"] = { vr: "UI", Value: [i.transferSyntaxUid] };
      const text = JSON.stringify(Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : 1))));
      metadataCache.set(cacheKey, text);
      return text;
    } finally {
      close();
    }
  };
  const first = await one(instances[0]!);
  if (instances.length === 1) return new Response(`[${first}]`, { headers });
  const enc = new TextEncoder();
  let next = 1;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(enc.encode(`[${first}`));
    },
    async pull(c) {
      if (next >= instances.length) {
        c.enqueue(enc.encode("]"));
        c.close();
        return;
      }
      await yieldToEventLoop();
      try {
        c.enqueue(enc.encode(`,${await one(instances[next++]!)}`));
      } catch (e) {
        log.error({ projectId: ctx.projectId, error: (e as Error).name, code: (e as { code?: string }).code }, "study metadata stopped part-way: a stored instance cannot be read");
        c.error(e);
      }
    },
  });
  return new Response(body, { headers });
}

/**
 * Instances' DICOM JSON as the metadata route last made it, most recently used kept, up to 32 M
 * characters: a viewer asks a series' metadata each time it opens it, and parsing every file of a
 * 200-slice series again costs ~1 ms per instance. Keyed by the stored bytes' checksum, so a
 * replaced instance is never answered from the cache; it holds only what the route returns anyway,
 * and every answer still passes the caller's access check first.
 */
const metadataCache = new LRUCache<string, string>({ maxSize: 32 * 1024 * 1024, sizeCalculation: (text) => Math.max(1, text.length) });

/** `inner`, calling `close` once when it ends, fails or the client cancels it. */
function closingWhenDone(inner: ReadableStream<Uint8Array>, close: () => void): ReadableStream<Uint8Array> {
  let closed = false;
  const once = () => {
    if (!closed) {
      closed = true;
      close();
    }
  };
  const reader = inner.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const { value, done } = await reader.read();
        if (done) {
          once();
          c.close();
        } else c.enqueue(value);
      } catch (e) {
        once();
        c.error(e);
      }
    },
    async cancel(reason) {
      once();
      await reader.cancel(reason);
    },
  });
}

/** Lets timers and I/O run (setImmediate): long reads give the event loop back between steps. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function withPixels<T>(ctx: ReadContext, ids: { study: string; series: string; instance: string }, fn: (file: ParsedFile, info: PixelInfo, i: StoredInstance) => T | Promise<T>): Promise<T | Response> {
  const [i] = await storedInstances(ctx, ids);
  if (!i) return notFound(ids);
  const { file, close } = await openParsed(ctx.store ?? archiveBlobStore(), i.blobKey);
  try {
    const info = pixelInfo(file);
    if (!info) return error(406, "This instance has no pixel data (it is not an image); retrieve it whole or as metadata instead.");
    return await fn(file, info, i);
  } finally {
    close();
  }
}

/**
 * WADO-RS frames: the list is checked (at most MAX_FRAME_LIST entries, each frame once) before any
 * byte is read; a multipart answer reads each frame when the client reaches it and closes the file
 * at the end (or when the client goes away).
 */
async function frames(req: Request, ctx: ReadContext, r: Extract<Resource, { kind: "frames" }>): Promise<Response> {
  const [i] = await storedInstances(ctx, r);
  if (!i) return notFound(r);
  // Always revalidated (no-cache: the access check runs on every request), answered from the
  // browser's cache when the stored bytes did not change.
  const etag = storedBytesEtag(i.sha256, `frames/${r.frames}`, req.headers.get("accept"));
  const validators = { etag, vary: "Accept", "cache-control": "private, no-cache" };
  if (ifNoneMatchHits(req.headers.get("if-none-match"), etag)) {
    await ctx.onStoredRead?.(r.study, "frames");
    return new Response(null, { status: 304, headers: validators });
  }
  const { file, close } = await openParsed(ctx.store ?? archiveBlobStore(), i.blobKey);
  let handedOver = false;
  try {
    const info = pixelInfo(file);
    if (!info) return error(406, "This instance has no pixel data (it is not an image); retrieve it whole or as metadata instead.");
    const list = parseFrameList(r.frames, info.numberOfFrames);
    const n = negotiateFrames(req.headers.get("accept"), info.transferSyntaxUid, info.encapsulated, list.length === 1);
    if (!n.ok) return error(406, n.message);
    await ctx.onStoredRead?.(r.study, "frames");
    const partType = `${n.partType}; transfer-syntax=${n.transferSyntax}`;
    if (!n.multipart) return new Response(new Uint8Array(frameBytes(file, info, list[0]!)), { headers: { "content-type": partType, ...validators } });
    const boundary = newBoundary();
    const base = new URL(req.url).pathname.replace(/\/frames\/.*$/, "/frames/");
    // The first frame is read before answering, so that a frame that cannot be cut out is an error status, not a cut-off body.
    const first = frameBytes(file, info, list[0]!);
    const parts: OutPart[] = list.map((f, k) => ({ contentType: partType, contentLocation: `${base}${f}`, body: k === 0 ? first : async () => frameBytes(file, info, f) }));
    handedOver = true;
    return new Response(closingWhenDone(multipartStream(parts, boundary), close), {
      headers: { "content-type": multipartContentType(boundary, n.partType, n.transferSyntax), ...validators },
    });
  } finally {
    if (!handedOver) close();
  }
}

/**
 * Every frame of a series in the viewer's display order, one part each, as the frames resource
 * answers them (the stored bytes with their transfer syntax, Content-Location the frame's URL,
 * Content-Length its size): Atrium's viewer asks once per series instead of once per frame. Each
 * instance is opened when the client reaches it and closed after its frames.
 */
async function pixeldata(req: Request, ctx: ReadContext, r: Extract<Resource, { kind: "pixeldata" }>): Promise<Response> {
  const accept = req.headers.get("accept");
  const images = await seriesInDisplayOrder(ctx, r.study, r.series);
  if (images === null) return notFound(r);
  if (images === "no-pixels") return error(406, "This series has no pixel data (it holds no images); retrieve it whole or as metadata instead.");
  for (const ts of new Set(images.map((i) => i.transferSyntaxUid))) {
    const n = negotiateFrames(accept, ts, !isUncompressedSyntax(ts), false);
    if (!n.ok) return error(406, `${n.message} (A series' pixel data is always multipart.)`);
  }
  await ctx.onStoredRead?.(r.study, "pixeldata");
  const store = ctx.store ?? archiveBlobStore();
  const base = new URL(req.url).pathname.replace(/\/pixeldata$/, "/instances/");
  async function* parts(): AsyncGenerator<OutPart> {
    for (const i of images as OrderedImage[]) {
      const { file, close } = await openParsed(store, i.blobKey);
      try {
        const info = pixelInfo(file);
        if (!info) continue; // indexed with rows, but no pixel data after all: nothing to send
        const n = negotiateFrames(accept, info.transferSyntaxUid, info.encapsulated, false);
        if (!n.ok) throw new Error(`an instance of the series: ${n.message}`); // no UID in an error message
        for (let f = 1; f <= info.numberOfFrames; f++) {
          yield { contentType: `${n.partType}; transfer-syntax=${n.transferSyntax}`, contentLocation: `${base}${i.sopInstanceUid}/frames/${f}`, body: frameBytes(file, info, f) };
        }
      } finally {
        close();
      }
    }
  }
  const boundary = newBoundary();
  return new Response(multipartStream(parts(), boundary), {
    headers: { "content-type": multipartContentType(boundary, "application/octet-stream"), "cache-control": "private, no-cache" },
  });
}

async function bulkdata(req: Request, ctx: ReadContext, r: Extract<Resource, { kind: "bulkdata" }>): Promise<Response> {
  const neg = negotiateBulk(req.headers.get("accept"));
  if (!neg.ok) return error(406, neg.message);
  const [i] = await storedInstances(ctx, r);
  if (!i) return notFound(r);
  const { file, close } = await openParsed(ctx.store ?? archiveBlobStore(), i.blobKey);
  let parts: Array<{ type: string; body: Buffer }>;
  try {
    const el = elementAtPath(file.dataset, r.path);
    if (!el) return error(404, "The instance has no binary value at this bulk data path; take BulkDataURIs from the metadata.");
    await ctx.onStoredRead?.(r.study, "bulkdata");
    if (el.tag === TAG.PixelData && r.path.length === 1) {
      const info = pixelInfo(file)!;
      if (info.encapsulated) {
        const type = `application/octet-stream; transfer-syntax=${info.transferSyntaxUid}`;
        parts = Array.from({ length: info.numberOfFrames }, (_, k) => ({ type, body: frameBytes(file, info, k + 1) }));
      } else {
        const bytes = info.bitsAllocated % 8 === 0 && info.rows ? Array.from({ length: info.numberOfFrames }, (_, k) => frameBytes(file, info, k + 1)) : [file.pixelSource.readAt(el.valueOffset, el.length)];
        parts = [{ type: "application/octet-stream", body: Buffer.concat(bytes) }];
      }
    } else {
      if (el.items || el.inSource || !BINARY_VRS.has(el.vr)) return error(404, "The value at this bulk data path is not a binary value; take BulkDataURIs from the metadata.");
      parts = [{ type: "application/octet-stream", body: bulkValueBytes(el, file.syntax.littleEndian) }];
    }
  } finally {
    close();
  }
  if (!neg.multipart) {
    if (parts.length !== 1) return error(406, 'This bulk data has several parts (one per frame); ask for multipart/related; type="application/octet-stream".');
    return new Response(new Uint8Array(parts[0]!.body), { headers: { "content-type": parts[0]!.type, "cache-control": "private, no-cache" } });
  }
  const boundary = newBoundary();
  return new Response(
    multipartStream(
      parts.map((p) => ({ contentType: p.type, body: p.body })),
      boundary,
    ),
    { headers: { "content-type": multipartContentType(boundary, "application/octet-stream"), "cache-control": "private, no-cache" } },
  );
}

async function rendered(req: Request, ctx: ReadContext, r: Extract<Resource, { kind: "rendered" | "thumbnail" }>): Promise<Response> {
  if (!negotiatePng(req.headers.get("accept"))) return error(406, "Atrium renders images as image/png; ask for that.");
  const url = new URL(req.url);
  let viewport = parseViewport(url.searchParams.get("viewport"));
  const window = parseWindow(url.searchParams.get("window"));
  if (r.kind === "thumbnail") viewport ??= { width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE };
  let ids: { study: string; series: string; instance: string };
  if (r.instance && r.series) {
    ids = { study: r.study, series: r.series, instance: r.instance };
  } else if (r.kind === "rendered") {
    // The series as one image: Atrium renders its first image in display order, asked for by name.
    if (url.searchParams.get("image") !== "first") return error(400, "A series is rendered one image at a time: ask …/series/{series}/rendered?image=first for its first image in display order, or …/instances/{instance}/rendered for another.");
    const first = await firstImageOfSeries(ctx, r.study, r.series);
    if (first === null) return notFound(r);
    if (first === "no-pixels") return error(406, "This series has no pixel data to render.");
    ids = { study: r.study, series: r.series, instance: first };
  } else {
    // A study or series thumbnail: the middle image of its first series that has images.
    const all = (await storedInstances(ctx, r)).filter((i) => i.rows !== null && i.rows > 0);
    if (!all.length) {
      if (!(await storedInstances(ctx, r)).length) return notFound(r);
      return error(406, "Nothing here has pixel data to make a thumbnail of.");
    }
    const first = all[0]!.seriesInstanceUid;
    const series = all.filter((i) => i.seriesInstanceUid === first);
    const pick = series[Math.floor(series.length / 2)]!;
    ids = { study: r.study, series: pick.seriesInstanceUid, instance: pick.sopInstanceUid };
  }
  return withPixels(ctx, ids, async (file, info) => {
    let frame = 1;
    if (r.frames !== undefined) {
      const list = parseFrameList(r.frames, info.numberOfFrames);
      if (list.length !== 1) return error(400, "Ask for one frame at a time when rendering (frames/{n}/rendered).");
      frame = list[0]!;
    } else if (r.kind === "thumbnail" && info.numberOfFrames > 1) {
      frame = Math.ceil(info.numberOfFrames / 2);
    }
    const png = await renderFramePngAsync(file, info, frame, { viewport, window });
    return new Response(new Uint8Array(png), { headers: { "content-type": "image/png", "content-length": String(png.length), "cache-control": "private, no-cache" } });
  });
}
