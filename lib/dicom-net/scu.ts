// A small C-STORE SCU on dcmjs-dimse 0.3.3 that sends files as they are: the dataset bytes after the
// Part 10 meta header go on the wire unchanged, in the file's own transfer syntax. dcmjs-dimse's
// Client is not used directly because it always proposes Implicit+Explicit LE in one context per SOP
// class and, when the peer picks the other one, parses and re-encodes the dataset with dcmjs (slow,
// and it fails on real files, see dicom-network.md). Here the association is built per file set:
// one context per (SOP class, transfer syntax) with that syntax only, plus an Explicit VR Little
// Endian context per SOP class as a fallback for uncompressed files (re-encoded only if the peer
// refuses their own syntax). The library's Network class does the PDU/DIMSE work.
import net from "node:net";
import { readFileSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { dimse, Network, type NetworkInstance } from "./dimse";
import type * as DimseTypes from "dcmjs-dimse";
import { NotDicomError, readPart10Info } from "./part10";
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

/** Walks files and directories (recursively, sorted) and reads each file's DICOM framing; non-DICOM files are skipped with a reason. */
export async function scanDicomFiles(paths: string[]): Promise<{ files: DicomFileToSend[]; skipped: FileOutcome[] }> {
  const all: string[] = [];
  for (const p of paths) await listFiles(path.resolve(p), all);
  const files: DicomFileToSend[] = [];
  const skipped: FileOutcome[] = [];
  for (const file of all) {
    const sizeBytes = (await stat(file)).size;
    const skip = (reason: string) => skipped.push({ path: file, outcome: "skipped", reason, sizeBytes });
    try {
      const info = await readPart10Info(file);
      if (info.sopClassUid === MEDIA_STORAGE_DIRECTORY_SOP_CLASS) skip("DICOMDIR (media storage directory), not an instance to store");
      else if (!info.datasetSopClassUid) skip("the dataset has no SOP Class UID (0008,0016)")
      else if (!info.datasetSopInstanceUid) skip("the dataset has no SOP Instance UID (0008,0018)")
      else if (!isValidUid(info.sopClassUid)) skip(info.sopClassUid ? "malformed SOP Class UID" : "no SOP Class UID");
      else if (!isValidUid(info.sopInstanceUid)) skip(info.sopInstanceUid ? "malformed SOP Instance UID" : "no SOP Instance UID");
      else if (!isValidUid(info.transferSyntaxUid)) skip("malformed Transfer Syntax UID");
      else if ((sizeBytes - info.datasetOffset) % 2 === 1 && info.transferSyntaxUid !== TS.DeflatedExplicitVRLittleEndian)
        skip("dataset has an odd length (an element of odd length: re-encode the file, e.g. with dcmconv)");
      else
        files.push({
          path: file,
          sizeBytes,
          datasetOffset: info.datasetOffset,
          transferSyntaxUid: info.transferSyntaxUid,
          sopClassUid: info.sopClassUid,
          sopInstanceUid: info.sopInstanceUid,
        });
    } catch (err) {
      if (err instanceof NotDicomError) skip(err.message);
      else skip(`unreadable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { files, skipped };
}

// ---------------------------------------------------------------------------------------------
// Datasets handed to dcmjs-dimse: the raw bytes, read when the request is sent.

class RawFileDataset extends dimse.Dataset {
  constructor(private readonly file: DicomFileToSend) {
    super({ SOPClassUID: file.sopClassUid, SOPInstanceUID: file.sopInstanceUid }, file.transferSyntaxUid);
  }
  override getDenaturalizedDataset(): Buffer {
    const bytes = readFileSync(this.file.path).subarray(this.file.datasetOffset);
    // PS3.5 §A.5: a deflated stream of odd length is padded with one null byte (some writers forget).
    return bytes.length % 2 === 1 ? Buffer.concat([bytes, Buffer.alloc(1)]) : bytes;
  }
}

class PreparedDataset extends dimse.Dataset {
  constructor(
    file: DicomFileToSend,
    private readonly bytes: Buffer,
    ts: string,
  ) {
    super({ SOPClassUID: file.sopClassUid, SOPInstanceUID: file.sopInstanceUid }, ts);
  }
  override getDenaturalizedDataset(): Buffer {
    return this.bytes;
  }
}

/** Re-encodes an uncompressed file as Explicit VR Little Endian with dcmjs (only used as a fallback). */
function convertToExplicitLittle(file: DicomFileToSend): Buffer {
  const ds = dimse.Dataset.fromFile(file.path) as DimseTypes.Dataset;
  ds.setTransferSyntaxUid(TS.ExplicitVRLittleEndian);
  return ds.getDenaturalizedDataset();
}

// ---------------------------------------------------------------------------------------------

const pairKey = (sop: string, ts: string) => `${sop}|${ts}`;

function contextsFor(file: DicomFileToSend): string[] {
  const keys = [pairKey(file.sopClassUid, file.transferSyntaxUid)];
  if (file.transferSyntaxUid !== TS.ExplicitVRLittleEndian && UNCOMPRESSED_TRANSFER_SYNTAXES.has(file.transferSyntaxUid)) {
    keys.push(pairKey(file.sopClassUid, TS.ExplicitVRLittleEndian));
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

/** Sends one batch over one association; resolves with one outcome per file. */
async function sendOverOneAssociation(files: DicomFileToSend[], opts: SendOptions): Promise<FileOutcome[]> {
  const outcomes = new Map<DicomFileToSend, FileOutcome>();
  const settle = (f: DicomFileToSend, o: Omit<FileOutcome, "path" | "sizeBytes">) => {
    if (outcomes.has(f)) return;
    const full: FileOutcome = { path: f.path, sizeBytes: f.sizeBytes, ...o };
    outcomes.set(f, full);
    opts.onFile?.(full);
  };
  const failRest = (reason: string) => {
    for (const f of files) settle(f, { outcome: "failed", reason });
  };

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
    const network = new Network(socket, { connectTimeout: timeout, associationTimeout: timeout, pduTimeout: timeout }) as unknown as NetworkInstance;
    let lastError: string | undefined;

    network.on("connect", () => network.sendAssociationRequest(association));
    network.on("associationAccepted", () => {
      const accepted = (sop: string, ts: string) =>
        association
          .getPresentationContexts()
          .some(({ context }) => context.getAbstractSyntaxUid() === sop && context.getResult() === PresentationContextResult.Accept && context.getAcceptedTransferSyntaxUid() === ts);
      const sopAccepted = (sop: string) =>
        association.getPresentationContexts().some(({ context }) => context.getAbstractSyntaxUid() === sop && context.getResult() === PresentationContextResult.Accept);
      const requests: DimseTypes.requests.CStoreRequest[] = [];
      for (const f of files) {
        let dataset: DimseTypes.Dataset;
        let converted = false;
        if (accepted(f.sopClassUid, f.transferSyntaxUid)) dataset = new RawFileDataset(f);
        else if (!sopAccepted(f.sopClassUid)) {
          settle(f, { outcome: "failed", reason: `peer refused SOP class ${f.sopClassUid}` });
          continue;
        } else if (UNCOMPRESSED_TRANSFER_SYNTAXES.has(f.transferSyntaxUid) && accepted(f.sopClassUid, TS.ExplicitVRLittleEndian)) {
          try {
            dataset = new PreparedDataset(f, convertToExplicitLittle(f), TS.ExplicitVRLittleEndian);
            converted = true;
          } catch (err) {
            settle(f, { outcome: "failed", reason: `peer refused ${f.transferSyntaxUid} and re-encoding failed: ${(err as Error).message}` });
            continue;
          }
        } else {
          settle(f, { outcome: "failed", reason: `peer refused transfer syntax ${f.transferSyntaxUid} (compressed data is not transcoded)` });
          continue;
        }
        const request = new dimse.requests.CStoreRequest(dataset);
        request.on("response", (response: DimseTypes.responses.CStoreResponse) => {
          const status = response.getStatus();
          const kind = statusKind(status);
          settle(f, { outcome: kind, status, converted, reason: kind === "sent" ? undefined : statusText(status) });
        });
        requests.push(request);
      }
      if (requests.length === 0) network.sendAssociationReleaseRequest();
      else network.sendRequests(requests);
    });
    network.on("done", () => network.sendAssociationReleaseRequest());
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
      failRest(lastError ? `connection failed: ${lastError.replace(/^.*?-> /, "")}` : "connection closed before a response");
      resolve();
    });
  });
  return files.map((f) => outcomes.get(f)!);
}

/** Sends DICOM files (paths of files or directories, or already scanned files) to a C-STORE SCP. */
export async function sendDicom(input: string[] | { files: DicomFileToSend[]; skipped?: FileOutcome[] }, opts: SendOptions): Promise<SendSummary> {
  const t0 = Date.now();
  const { files, skipped = [] } = Array.isArray(input) ? await scanDicomFiles(input) : input;
  for (const s of skipped) opts.onFile?.(s);
  const n = Math.max(1, Math.min(opts.associations ?? 1, files.length || 1));
  const groups: DicomFileToSend[][] = Array.from({ length: n }, () => []);
  files.forEach((f, i) => groups[i % n]!.push(f));
  let associations = 0;
  const results = await Promise.all(
    groups.map(async (group) => {
      const out: FileOutcome[] = [];
      for (const batch of batchByContexts(group)) {
        associations++;
        out.push(...(await sendOverOneAssociation(batch, opts)));
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
