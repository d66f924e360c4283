// A small C-STORE SCU on dcmjs-dimse 0.3.3 that sends files as they are: the dataset bytes after the
// Part 10 meta header go on the wire unchanged, in the file's own transfer syntax. dcmjs-dimse's
// Client is not used directly because it always proposes Implicit+Explicit LE in one context per SOP
// class and, when the peer picks the other one, parses and re-encodes the dataset with dcmjs (slow,
// and it fails on real files, see dicom-network.md). Here the association is built per file set:
// one context per (SOP class, transfer syntax) with that syntax only, plus Explicit and Implicit VR Little
// Endian contexts per SOP class as fallbacks for uncompressed files (re-encoded only if the peer
// refuses their own syntax). The library's Network class does the PDU/DIMSE work.
import net from "node:net";
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { dimse, Network, type NetworkInstance } from "./dimse";
import type * as DimseTypes from "dcmjs-dimse";
import { NotDicomError, part10InfoOfBuffer, readPart10Info, readPart10InfoSync, type Part10Info } from "./part10";
import { encodeStoreRequest, parseResponseCommand, pdataChunks, PduFramer, type ResponseCommand } from "./pdata";
import { isValidUid, MEDIA_STORAGE_DIRECTORY_SOP_CLASS, TS, UNCOMPRESSED_TRANSFER_SYNTAXES } from "./uids";

const { PresentationContextResult } = dimse.constants;

export interface DicomFileToSend {
  path: string;
  sizeBytes: number;
  datasetOffset: number;
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
}

export type FileOutcomeKind = "sent" | "warning" | "failed" | "skipped";

export interface FileOutcome {
  path: string;
  outcome: FileOutcomeKind;
  /** DIMSE status of the C-STORE response, when one arrived. */
  status?: number;
  reason?: string;
  sizeBytes: number;
  /** True when the dataset was re-encoded to Explicit VR Little Endian because the peer refused its syntax. */
  converted?: boolean;
}

export interface SendOptions {
  host: string;
  port: number;
  calledAe: string;
  callingAe?: string;
  /** Parallel associations (files are divided between them). Default 1. */
  associations?: number;
  /** Abort an association when the peer is silent this long (ms). Default 10 min. */
  timeoutMs?: number;
  onFile?(outcome: FileOutcome): void;
}

export interface SendSummary {
  sent: number;
  warnings: number;
  failed: number;
  skipped: number;
  bytesSent: number;
  durationMs: number;
  associations: number;
  outcomes: FileOutcome[];
}

const MAX_CONTEXTS = 128; // presentation context ids are odd numbers 1..255

// ---------------------------------------------------------------------------------------------
// Scanning

async function listFiles(p: string, out: string[]): Promise<void> {
  const st = await stat(p);
  if (st.isFile()) {
    out.push(p);
    return;
  }
  if (!st.isDirectory()) return;
  const entries = await readdir(p, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const child = path.join(p, e.name);
    if (e.isDirectory()) await listFiles(child, out);
    else if (e.isFile()) out.push(child);
  }
}

/**
 * File reads of the SCU. Opening, stat-ing, reading and closing a file through the thread pool costs
 * several times the read itself in CPU (a wake-up of the pool and of the event loop per step), and
 * on the 2-core machines of the benchmarks that CPU is taken from the receiver: the blob store is a
 * local directory, so files are read synchronously, in short steps between which the event loop
 * runs. Reads that take long (slow or network storage: 5 reads over 20 ms) switch the process to
 * asynchronous reads for a minute, so that a slow disk does not hold up the event loop.
 */
const SLOW_SYNC_READ_MS = 20;
const SLOW_READS_TO_SWITCH = 5;
const ASYNC_READS_FOR_MS = 60_000;
let slowReads = 0;
let asyncReadsUntil = 0;

function syncReads(): boolean {
  return asyncReadsUntil === 0 || Date.now() >= asyncReadsUntil;
}

function noteSyncRead(startedAt: number): void {
  if (performance.now() - startedAt <= SLOW_SYNC_READ_MS) return;
  if (++slowReads < SLOW_READS_TO_SWITCH) return;
  slowReads = 0;
  asyncReadsUntil = Date.now() + ASYNC_READS_FOR_MS;
}

/**
 * Buffers that files are read into, reused from one instance to the next (two per association: the
 * one on the wire and the next file's). A fresh 100–500 KB buffer per instance kept V8's garbage
 * collector threads busy for about half a millisecond of CPU per instance (bench/forward.ts).
 * A buffer is reused only once the socket has taken all of it (its write callback ran). Files over
 * 4 MB are read asynchronously into their own buffer (a synchronous read that long would hold up
 * the other work of the process; their per-file overhead is small beside their size).
 */
const POOLED_MAX_BYTES = 4 * 1024 * 1024;

class ReadBuffers {
  private free: Buffer[] = [];

  /** Reads a whole file (synchronously while reads are fast, see above) into a pooled buffer when it fits. */
  async read(file: string, expectedSize: number): Promise<{ bytes: Buffer; release(): void }> {
    const none = { release: () => undefined };
    if (!syncReads() || expectedSize > POOLED_MAX_BYTES) return { bytes: await readFile(file), ...none };
    const pooled = this.readPooled(file);
    return pooled ?? { bytes: await readFile(file), ...none };
  }

  /** The synchronous read into a pooled buffer; undefined when the file is larger than pooled buffers. */
  private readPooled(file: string): { bytes: Buffer; release(): void } | undefined {
    const t = performance.now();
    const fd = openSync(file, "r");
    try {
      const size = fstatSync(fd).size;
      if (size > POOLED_MAX_BYTES) return undefined;
      const i = this.free.findIndex((b) => b.length >= size);
      const buf = i >= 0 ? this.free.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(Math.max(size, 256 * 1024));
      let have = 0;
      while (have < size) {
        const n = readSync(fd, buf, have, size - have, have);
        if (n === 0) break; // the file shrank: send what is there (the peer judges it)
        have += n;
      }
      let released = false;
      return {
        bytes: buf.subarray(0, have),
        release: () => {
          if (released) return;
          released = true;
          if (this.free.length < 2) this.free.push(buf);
        },
      };
    } finally {
      closeSync(fd);
      noteSyncRead(t);
    }
  }
}

async function headerInfo(file: string): Promise<Part10Info & { sizeBytes: number }> {
  if (!syncReads()) {
    const sizeBytes = (await stat(file)).size;
    return { ...(await readPart10Info(file)), sizeBytes };
  }
  const t = performance.now();
  try {
    return readPart10InfoSync(file);
  } finally {
    noteSyncRead(t);
  }
}

/** Lets the event loop run every few milliseconds of synchronous work. */
function yielder(everyMs = 4): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    if (performance.now() - since < everyMs) return undefined;
    return new Promise<void>((r) =>
      setImmediate(() => {
        since = performance.now();
        r();
      }),
    );
  };
}

function unreadableReason(err: unknown): string {
  if (err instanceof NotDicomError) return err.message;
  return `unreadable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
}

/** Whether a file can be sent as it is (its framing read), or why it is skipped. */
function judgeFile(file: string, info: Part10Info & { sizeBytes: number }): { file: DicomFileToSend } | { skip: FileOutcome } {
  const sizeBytes = info.sizeBytes;
  const skip = (reason: string) => ({ skip: { path: file, outcome: "skipped" as const, reason, sizeBytes } });
  if (info.sopClassUid === MEDIA_STORAGE_DIRECTORY_SOP_CLASS) return skip("DICOMDIR (media storage directory), not an instance to store");
  if (!info.datasetSopClassUid) return skip("the dataset has no SOP Class UID (0008,0016)");
  if (!info.datasetSopInstanceUid) return skip("the dataset has no SOP Instance UID (0008,0018)");
  if (!isValidUid(info.sopClassUid)) return skip(info.sopClassUid ? "malformed SOP Class UID" : "no SOP Class UID");
  if (!isValidUid(info.sopInstanceUid)) return skip(info.sopInstanceUid ? "malformed SOP Instance UID" : "no SOP Instance UID");
  if (!isValidUid(info.transferSyntaxUid)) return skip("malformed Transfer Syntax UID");
  if ((sizeBytes - info.datasetOffset) % 2 === 1 && info.transferSyntaxUid !== TS.DeflatedExplicitVRLittleEndian)
    return skip("dataset has an odd length (an element of odd length: re-encode the file, e.g. with dcmconv)");
  return {
    file: { path: file, sizeBytes, datasetOffset: info.datasetOffset, transferSyntaxUid: info.transferSyntaxUid, sopClassUid: info.sopClassUid, sopInstanceUid: info.sopInstanceUid },
  };
}

/** Reads one file's DICOM framing: the file to send, or why it is skipped. */
async function scanFile(file: string): Promise<{ file: DicomFileToSend } | { skip: FileOutcome }> {
  try {
    return judgeFile(file, await headerInfo(file));
  } catch (err) {
    return { skip: { path: file, outcome: "skipped", reason: unreadableReason(err), sizeBytes: 0 } };
  }
}

/** Walks files and directories (recursively, sorted) and reads each file's DICOM framing; non-DICOM files are skipped with a reason. */
export async function scanDicomFiles(paths: string[]): Promise<{ files: DicomFileToSend[]; skipped: FileOutcome[] }> {
  const all: string[] = [];
  for (const p of paths) await listFiles(path.resolve(p), all);
  const results: ({ file: DicomFileToSend } | { skip: FileOutcome })[] = new Array(all.length);
  const scanOne = scanFile;
  // Synchronous header reads one after the other (yielding every few ms); when reads are slow, 16
  // asynchronous ones at a time. The order of the result is the order of the paths.
  let nextIndex = 0;
  const pause = yielder();
  while (syncReads() && nextIndex < all.length) {
    const i = nextIndex++;
    results[i] = await scanOne(all[i]!);
    await pause();
  }
  await Promise.all(
    Array.from({ length: Math.min(16, all.length - nextIndex) }, async () => {
      while (nextIndex < all.length) {
        const i = nextIndex++;
        results[i] = await scanOne(all[i]!);
      }
    }),
  );
  const files: DicomFileToSend[] = [];
  const skipped: FileOutcome[] = [];
  for (const r of results) {
    if ("file" in r) files.push(r.file);
    else skipped.push(r.skip);
  }
  return { files, skipped };
}

// ---------------------------------------------------------------------------------------------
// Re-encoding (fallback only)

/** Re-encodes an uncompressed (or deflated) file as Explicit or Implicit VR Little Endian with dcmjs (only used as a fallback). */
function convertToLittleEndian(file: DicomFileToSend, ts: string): Buffer {
  const ds = dimse.Dataset.fromFile(file.path) as DimseTypes.Dataset;
  ds.setTransferSyntaxUid(ts);
  return ds.getDenaturalizedDataset();
}

/** The syntaxes an uncompressed file may be re-encoded to when the peer refuses its own, in order of preference. */
const FALLBACK_SYNTAXES = [TS.ExplicitVRLittleEndian, TS.ImplicitVRLittleEndian] as const;

// ---------------------------------------------------------------------------------------------

const pairKey = (sop: string, ts: string) => `${sop}|${ts}`;

function contextsFor(file: DicomFileToSend): string[] {
  const keys = [pairKey(file.sopClassUid, file.transferSyntaxUid)];
  if (UNCOMPRESSED_TRANSFER_SYNTAXES.has(file.transferSyntaxUid)) {
    for (const ts of FALLBACK_SYNTAXES) if (ts !== file.transferSyntaxUid) keys.push(pairKey(file.sopClassUid, ts));
  }
  return keys;
}

/** Splits files into batches whose presentation contexts fit in one association. */
export function batchByContexts(files: DicomFileToSend[]): DicomFileToSend[][] {
  const batches: DicomFileToSend[][] = [];
  let current: DicomFileToSend[] = [];
  let keys = new Set<string>();
  for (const f of files) {
    const need = contextsFor(f).filter((k) => !keys.has(k));
    if (keys.size + need.length > MAX_CONTEXTS && current.length > 0) {
      batches.push(current);
      current = [];
      keys = new Set();
    }
    for (const k of contextsFor(f)) keys.add(k);
    current.push(f);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

const REJECT_TEXT: Record<string, string> = {
  "1/1": "no reason given",
  "1/2": "application context name not supported",
  "1/3": "calling AE title not recognized",
  "1/7": "called AE title not recognized",
  "2/1": "no reason given",
  "2/2": "protocol version not supported",
  "3/1": "temporary congestion",
  "3/2": "local limit exceeded",
};

export function describeRejection(r: { result: number; source: number; reason: number }): string {
  const what = REJECT_TEXT[`${r.source}/${r.reason}`] ?? `reason ${r.reason}`;
  return `association rejected (${r.result === 1 ? "permanent" : "transient"}): ${what}`;
}

function statusKind(status: number): FileOutcomeKind {
  if (status === 0x0000) return "sent";
  if (status === 0x0001 || status === 0x0107 || status === 0x0116 || (status & 0xf000) === 0xb000) return "warning";
  return "failed";
}

function statusText(status: number): string {
  const hex = `0x${status.toString(16).toUpperCase().padStart(4, "0")}`;
  if ((status & 0xff00) === 0xa700) return `${hex} refused: out of resources`;
  if ((status & 0xff00) === 0xa900) return `${hex} data set does not match SOP class`;
  if ((status & 0xf000) === 0xc000) return `${hex} cannot understand`;
  if (status === 0x0122) return `${hex} SOP class not supported`;
  if (status === 0x0124) return `${hex} not authorized`;
  if (status === 0x0110) return `${hex} processing failure`;
  return hex;
}

/** A connection error as a data manager can act on it (no PHI: addresses and codes only). */
function connectionAdvice(error: string, where: string): string {
  const code = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EPIPE/.exec(error)?.[0];
  if (code === "ECONNREFUSED") return `nothing listens at ${where} (ECONNREFUSED): check the host and port, and that the receiver is running`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `the host of ${where} does not resolve (${code}): check the host name`;
  if (code === "EHOSTUNREACH" || code === "ETIMEDOUT") return `${where} cannot be reached (${code}): check the host, port and firewalls`;
  if (code === "ECONNRESET" || code === "EPIPE") return `${where} dropped the connection (${code}); what it acknowledged is kept, the rest is sent again`;
  return error.replace(/^.*?-> /, "");
}

/** A file's dataset bytes as they go on the wire (the file's own, or re-encoded for a fallback syntax). */
async function datasetBytes(f: DicomFileToSend, fallback: string | undefined, buffers: ReadBuffers): Promise<{ bytes: Buffer; release(): void }> {
  if (fallback) return { bytes: convertToLittleEndian(f, fallback), release: () => undefined };
  const file = await buffers.read(f.path, f.sizeBytes);
  const bytes = file.bytes.subarray(f.datasetOffset);
  // PS3.5 §A.5: a deflated stream of odd length is padded with one null byte (some writers forget).
  if (bytes.length % 2 === 1) {
    const padded = Buffer.concat([bytes, Buffer.alloc(1)]);
    file.release();
    return { bytes: padded, release: () => undefined };
  }
  return { bytes, release: file.release };
}

/**
 * A file whose framing is read when it is sent (from the bytes read to send it): no header read
 * beforehand. Its SOP class and syntax must then have a context in the association, proposed from
 * the files of the batch that were scanned; when they have none it is sent in a next association.
 */
export interface UnscannedFile {
  path: string;
  /** The file's size as last seen (outcomes carry it until the file is read). */
  sizeBytes: number;
  unscanned: true;
}

type SendItem = DicomFileToSend | UnscannedFile;
const isUnscanned = (f: SendItem): f is UnscannedFile => "unscanned" in f;

interface PlannedStore {
  item: SendItem;
  /** Unset for an unscanned file until it is read. */
  file?: DicomFileToSend;
  pcId: number;
  /** Re-encoded to this syntax because the peer refused the file's own. */
  fallback?: string;
}

/** What is sent for one planned store: bytes on a context, or an outcome without sending, or "not here". */
type Prepared =
  | { kind: "send"; file: DicomFileToSend; pcId: number; fallback?: string; bytes: Buffer; release(): void }
  | { kind: "settled"; file?: DicomFileToSend; outcome: "failed" | "skipped"; reason: string }
  | { kind: "later"; file: DicomFileToSend };

/**
 * Sends one batch over one association; resolves with one outcome per file, and the unscanned files
 * that turned out to need a context this association does not have (`later`, to send in another).
 * dcmjs-dimse negotiates and releases the association; the C-STORE requests and their responses are
 * written and read here (lib/dicom-net/pdata): one request at a time (no asynchronous operations, as
 * storescu; Orthanc and DCMTK grant none), the next file read from disk while the peer answers the
 * current one.
 */
async function sendOverOneAssociation(items: SendItem[], opts: SendOptions): Promise<{ outcomes: FileOutcome[]; later: DicomFileToSend[] }> {
  const outcomes = new Map<SendItem, FileOutcome>();
  const later = new Set<SendItem>();
  const laterFiles: DicomFileToSend[] = [];
  const settle = (f: SendItem, o: Omit<FileOutcome, "path" | "sizeBytes">, sizeBytes = f.sizeBytes) => {
    if (outcomes.has(f) || later.has(f)) return;
    const full: FileOutcome = { path: f.path, sizeBytes, ...o };
    outcomes.set(f, full);
    opts.onFile?.(full);
  };
  const failRest = (reason: string) => {
    for (const f of items) settle(f, { outcome: "failed", reason });
  };
  const files = items.filter((f): f is DicomFileToSend => !isUnscanned(f));

  const association = new dimse.association.Association(opts.callingAe ?? "ATRIUM", opts.calledAe);
  const keys = new Set<string>();
  for (const f of files) {
    for (const key of contextsFor(f)) {
      if (keys.has(key)) continue;
      keys.add(key);
      const [sop, ts] = key.split("|") as [string, string];
      const id = association.addPresentationContext(sop);
      association.addTransferSyntaxToPresentationContext(id, ts);
    }
  }

  await new Promise<void>((resolve) => {
    const socket = net.connect({ host: opts.host, port: opts.port });
    socket.setNoDelay(true);
    const timeout = opts.timeoutMs ?? 10 * 60_000;
    const network = new Network(socket, { connectTimeout: timeout, associationTimeout: timeout, pduTimeout: timeout }) as unknown as NetworkInstance & { lastPduTime?: number };
    let lastError: string | undefined;
    let closed = false;

    // The response being waited for (one request outstanding at a time).
    let waiting: { messageId: number; resolve(r: ResponseCommand | null): void } | undefined;
    const command: Buffer[] = [];
    let inCommand = false;
    let lastFragment = false;
    const onResponse = () => {
      const buf = Buffer.concat(command);
      command.length = 0;
      let r: ResponseCommand;
      try {
        r = parseResponseCommand(buf);
      } catch (err) {
        lastError = `the peer sent a malformed response (${(err as Error).message})`;
        network.sendAbort();
        socket.destroy();
        return;
      }
      if (waiting && r.messageIdBeingRespondedTo === waiting.messageId) {
        const w = waiting;
        waiting = undefined;
        w.resolve(r);
      }
    };
    // dcmjs-dimse reads the socket through one 'data' listener; association, release and abort PDUs
    // still go to it whole, P-DATA (the responses) is read here.
    const libraryListeners = socket.listeners("data") as Array<(chunk: Buffer) => void>;
    socket.removeAllListeners("data");
    const framer = new PduFramer(
      {
        onControlPdu: (pdu) => {
          for (const l of libraryListeners) l.call(socket, pdu);
        },
        onPdvStart: (_pcId, isCommand, isLast) => {
          inCommand = isCommand;
          lastFragment = isLast;
        },
        onPdvData: (data) => {
          if (inCommand) command.push(Buffer.from(data));
        },
        // A command is complete at its last fragment; data set fragments (none answer a C-STORE) are ignored.
        onPdvEnd: () => {
          if (inCommand && lastFragment) onResponse();
        },
      },
      Number.MAX_SAFE_INTEGER,
    );
    socket.on("data", (chunk: Buffer) => {
      network.lastPduTime = Date.now();
      try {
        framer.push(chunk);
      } catch (err) {
        lastError = `protocol error: ${(err as Error).message}`;
        socket.destroy();
      }
    });

    // Set when the association is accepted: where a file goes (its own syntax, a fallback, or a reason it cannot).
    let route: (f: DicomFileToSend) => { pcId: number; fallback?: string } | { reason: string } = () => ({ reason: "no association" });
    const sendAll = async (planned: PlannedStore[]) => {
      const maxPdu = association.getMaxPduLength();
      const buffers = new ReadBuffers();
      const prepare = async (p: PlannedStore): Promise<Prepared> => {
        if (p.file) {
          try {
            return { kind: "send", file: p.file, pcId: p.pcId, fallback: p.fallback, ...(await datasetBytes(p.file, p.fallback, buffers)) };
          } catch (err) {
            return {
              kind: "settled",
              file: p.file,
              outcome: "failed",
              reason: p.fallback ? `peer refused ${p.file.transferSyntaxUid} and re-encoding failed: ${(err as Error).message}` : unreadableReason(err),
            };
          }
        }
        // An unscanned file: read it whole, then judge its framing from those bytes.
        let read: { bytes: Buffer; release(): void };
        try {
          read = await buffers.read(p.item.path, p.item.sizeBytes);
        } catch (err) {
          return { kind: "settled", outcome: "skipped", reason: unreadableReason(err) };
        }
        let judged: ReturnType<typeof judgeFile>;
        try {
          judged = judgeFile(p.item.path, { ...part10InfoOfBuffer(read.bytes), sizeBytes: read.bytes.length });
        } catch (err) {
          read.release();
          return { kind: "settled", outcome: "skipped", reason: unreadableReason(err) };
        }
        if ("skip" in judged) {
          read.release();
          return { kind: "settled", outcome: "skipped", reason: judged.skip.reason! };
        }
        const file = judged.file;
        if (!keys.has(pairKey(file.sopClassUid, file.transferSyntaxUid))) {
          read.release();
          return { kind: "later", file };
        }
        const r = route(file);
        if ("reason" in r) {
          read.release();
          return { kind: "settled", file, outcome: "failed", reason: r.reason };
        }
        if (r.fallback) {
          read.release();
          try {
            return { kind: "send", file, pcId: r.pcId, fallback: r.fallback, ...(await datasetBytes(file, r.fallback, buffers)) };
          } catch (err) {
            return { kind: "settled", file, outcome: "failed", reason: `peer refused ${file.transferSyntaxUid} and re-encoding failed: ${(err as Error).message}` };
          }
        }
        const bytes = read.bytes.subarray(file.datasetOffset);
        if (bytes.length % 2 === 1) {
          // PS3.5 §A.5: a deflated stream of odd length is padded with one null byte.
          const padded = Buffer.concat([bytes, Buffer.alloc(1)]);
          read.release();
          return { kind: "send", file, pcId: r.pcId, bytes: padded, release: () => undefined };
        }
        return { kind: "send", file, pcId: r.pcId, bytes, release: read.release };
      };
      const load = (i: number) => (i < planned.length ? prepare(planned[i]!) : undefined);
      let next = load(0);
      for (let i = 0; i < planned.length && !closed; i++) {
        const p = planned[i]!;
        const prepared = await next!;
        if (prepared.kind !== "send") {
          next = load(i + 1);
          if (prepared.kind === "later") {
            later.add(p.item);
            laterFiles.push(prepared.file);
          } else settle(p.item, { outcome: prepared.outcome, reason: prepared.reason }, prepared.file?.sizeBytes ?? p.item.sizeBytes);
          continue;
        }
        const file = prepared;
        if (closed) break;
        const { bytes } = file;
        const messageId = (i % 0xffff) + 1;
        const response = new Promise<ResponseCommand | null>((r) => (waiting = { messageId, resolve: r }));
        const cmd = encodeStoreRequest({ messageId, sopClassUid: file.file.sopClassUid, sopInstanceUid: file.file.sopInstanceUid });
        // One writev per instance: the command and every data set PDU (no copy of the data set).
        socket.cork();
        for (const b of pdataChunks(file.pcId, cmd, true, maxPdu)) socket.write(b);
        const chunks = pdataChunks(file.pcId, bytes, false, maxPdu);
        for (let c = 0; c < chunks.length - 1; c++) socket.write(chunks[c]!);
        socket.write(chunks[chunks.length - 1]!, file.release); // the buffer is free once written
        socket.uncork();
        // The next file is read while the peer stores this one (after the write, so a synchronous
        // read does not delay it).
        next = load(i + 1);
        const r = await response;
        if (!r) break;
        const kind = statusKind(r.status);
        settle(
          p.item,
          { outcome: kind, status: r.status, converted: Boolean(file.fallback), reason: kind === "sent" ? undefined : statusText(r.status) + (r.errorComment ? ` (${r.errorComment})` : "") },
          file.file.sizeBytes,
        );
      }
      if (!closed) network.sendAssociationReleaseRequest();
    };

    network.on("connect", () => network.sendAssociationRequest(association));
    network.on("associationAccepted", () => {
      const contexts = association.getPresentationContexts().map(({ context }) => context);
      const acceptedId = (sop: string, ts: string) =>
        contexts.find((c) => c.getAbstractSyntaxUid() === sop && c.getResult() === PresentationContextResult.Accept && c.getAcceptedTransferSyntaxUid() === ts)?.getPresentationContextId();
      const sopAccepted = (sop: string) => contexts.some((c) => c.getAbstractSyntaxUid() === sop && c.getResult() === PresentationContextResult.Accept);
      // A SOP class none of whose contexts was accepted because of its transfer syntax (not the class itself).
      const syntaxRefused = (sop: string) => contexts.some((c) => c.getAbstractSyntaxUid() === sop && c.getResult() === PresentationContextResult.RejectTransferSyntaxesNotSupported);
      route = (f) => {
        const own = acceptedId(f.sopClassUid, f.transferSyntaxUid);
        if (own !== undefined) return { pcId: own };
        if (!sopAccepted(f.sopClassUid) && !syntaxRefused(f.sopClassUid)) return { reason: `peer refused SOP class ${f.sopClassUid}` };
        const fallback = UNCOMPRESSED_TRANSFER_SYNTAXES.has(f.transferSyntaxUid) ? FALLBACK_SYNTAXES.find((ts) => acceptedId(f.sopClassUid, ts) !== undefined) : undefined;
        if (fallback) return { pcId: acceptedId(f.sopClassUid, fallback)!, fallback };
        return {
          reason: UNCOMPRESSED_TRANSFER_SYNTAXES.has(f.transferSyntaxUid)
            ? `peer refused transfer syntax ${f.transferSyntaxUid} and both Explicit and Implicit VR Little Endian for SOP class ${f.sopClassUid}: configure the receiver to accept one of them`
            : `peer refused transfer syntax ${f.transferSyntaxUid} (compressed data is not transcoded: configure the receiver to accept this syntax, e.g. storescp +xa)`,
        };
      };
      const planned: PlannedStore[] = [];
      for (const item of items) {
        if (isUnscanned(item)) {
          planned.push({ item, pcId: 0 });
          continue;
        }
        const r = route(item);
        if ("reason" in r) settle(item, { outcome: "failed", reason: r.reason });
        else planned.push({ item, file: item, ...r });
      }
      sendAll(planned).catch((err: Error) => {
        lastError = err.message;
        socket.destroy();
      });
    });
    network.on("associationReleaseResponse", () => socket.end());
    network.on("associationRejected", (r: { result: number; source: number; reason: number }) => {
      failRest(describeRejection(r));
      socket.end();
    });
    network.on("abort", () => {
      failRest("association aborted by the peer");
      socket.end();
    });
    network.on("networkError", (err: Error) => {
      lastError = err.message;
      socket.destroy();
    });
    network.on("close", () => {
      closed = true;
      waiting?.resolve(null);
      waiting = undefined;
      failRest(lastError ? `connection failed: ${connectionAdvice(lastError, `${opts.host}:${opts.port}`)}` : "connection closed before a response");
      resolve();
    });
  });
  return { outcomes: items.filter((f) => !later.has(f)).map((f) => outcomes.get(f)!), later: laterFiles };
}

/** Files whose headers are scanned before each association, when the first files of a group are scanned. */
const SCANNED_FIRST = 8;

/**
 * Sends DICOM files to a C-STORE SCP: paths of files or directories (scanned first), already
 * scanned files, or `unscanned` files: of each association's share only the first few are scanned
 * to propose the presentation contexts, and every other file's framing is read from the bytes read
 * to send it (one read per file instead of two, and no scan before the first instance goes out;
 * bench/forward.ts). An unscanned file that needs a context the association does not have is sent
 * in a next one.
 */
export async function sendDicom(
  input: string[] | { files: DicomFileToSend[]; skipped?: FileOutcome[] } | { unscanned: { path: string; sizeBytes: number }[] },
  opts: SendOptions,
): Promise<SendSummary> {
  const t0 = Date.now();
  let items: SendItem[];
  let skipped: FileOutcome[] = [];
  if (Array.isArray(input)) ({ files: items, skipped } = await scanDicomFiles(input));
  else if ("files" in input) ({ files: items, skipped = [] } = input);
  else items = input.unscanned.map((f) => ({ path: f.path, sizeBytes: f.sizeBytes, unscanned: true as const }));
  for (const s of skipped) opts.onFile?.(s);
  const n = Math.max(1, Math.min(opts.associations ?? 1, items.length || 1));
  const groups: SendItem[][] = Array.from({ length: n }, () => []);
  items.forEach((f, i) => groups[i % n]!.push(f));
  let associations = 0;
  const results = await Promise.all(
    groups.map(async (group) => {
      const out: FileOutcome[] = [];
      // Unscanned files: scan the first few (all, if none of those can be sent) for the contexts.
      let scanned = 0;
      for (let want = SCANNED_FIRST; scanned < group.length; want = group.length) {
        const ahead = group.slice(scanned, want).filter(isUnscanned);
        if (!ahead.length) break;
        const judged = new Map<SendItem, DicomFileToSend>();
        const pause = yielder();
        for (const f of ahead) {
          const r = await scanFile(f.path);
          if ("file" in r) judged.set(f, r.file);
          else {
            opts.onFile?.(r.skip);
            out.push(r.skip);
          }
          await pause();
        }
        const kept = group.slice(scanned, want).map((f) => (isUnscanned(f) ? judged.get(f) : f)).filter((f): f is DicomFileToSend => f !== undefined);
        group.splice(scanned, Math.min(want, group.length) - scanned, ...kept);
        scanned += kept.length;
        if (kept.length) break;
      }
      let pending: DicomFileToSend[] = [];
      if (group.some(isUnscanned)) {
        associations++;
        const r = await sendOverOneAssociation(group, opts);
        out.push(...r.outcomes);
        pending = r.later;
      } else pending = group as DicomFileToSend[];
      for (const batch of batchByContexts(pending)) {
        associations++;
        out.push(...(await sendOverOneAssociation(batch, opts)).outcomes);
      }
      return out;
    }),
  );
  const outcomes = [...results.flat(), ...skipped];
  const count = (k: FileOutcomeKind) => outcomes.filter((o) => o.outcome === k).length;
  return {
    sent: count("sent"),
    warnings: count("warning"),
    failed: count("failed"),
    skipped: count("skipped"),
    bytesSent: outcomes.filter((o) => o.outcome === "sent" || o.outcome === "warning").reduce((a, o) => a + o.sizeBytes, 0),
    durationMs: Date.now() - t0,
    associations,
    outcomes,
  };
}
