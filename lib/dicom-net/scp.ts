// C-STORE / C-ECHO SCP. dcmjs-dimse 0.3.3 negotiates, releases and aborts associations; the P-DATA
// in between (commands and datasets) is read and answered by lib/dicom-net/pdata. The dataset of
// each C-STORE is streamed, unparsed, into a staging file framed as DICOM Part 10 (preamble, "DICM", group 0002 written here from
// the C-STORE request and the accepted presentation context). The file is fsynced and renamed into
// place, then the caller's onStored hook runs (it records the instance durably); only when the hook
// has resolved is the C-STORE response sent. See shared/reference/dicom-network.md for the pitfalls.
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import { mkdir, readdir, stat, unlink } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import { childLog } from "@/lib/log";
import { dimse } from "./dimse";
import type * as DimseTypes from "dcmjs-dimse";
import { buildFileMetaHeader } from "./part10";
import {
  COMMAND_FIELD,
  encodeCommandPData,
  encodeResponse,
  parseCommand,
  PduFramer,
  PduProtocolError,
  responseCommandField,
  type Command,
  type ResponseFields,
} from "./pdata";
import { ACCEPTED_TRANSFER_SYNTAXES, isStorageSopClass, isUsableUid, VERIFICATION_SOP_CLASS } from "./uids";

const log = childLog("dicom-scp");

type Association = DimseTypes.association.Association;
type PresentationContext = DimseTypes.association.PresentationContext;

const { PresentationContextResult } = dimse.constants;

// ---------------------------------------------------------------------------------------------
// Public types

/** Why an association is refused; mapped to A-ASSOCIATE-RJ result/source/reason by REJECT_CODES. */
export type RejectReason =
  | "called-ae-not-recognized"
  | "calling-ae-not-recognized"
  | "calling-address-not-allowed"
  | "no-reason-given"
  | "application-context-not-supported"
  | "protocol-version-not-supported"
  | "temporary-congestion"
  | "local-limit-exceeded";

/**
 * PS3.8 §9.3.4 A-ASSOCIATE-RJ: result 1 = rejected-permanent, 2 = rejected-transient; source
 * 1 = DICOM UL service-user, 2 = service-provider (ACSE), 3 = service-provider (presentation);
 * reason for source 1: 1 no-reason-given, 2 application-context-name-not-supported,
 * 3 calling-AE-title-not-recognized, 7 called-AE-title-not-recognized; source 2: 1 no-reason-given,
 * 2 protocol-version-not-supported; source 3: 1 temporary-congestion, 2 local-limit-exceeded.
 * A refused calling address has no code of its own: it is a service-user rejection without reason.
 */
export const REJECT_CODES: Record<RejectReason, { result: 1 | 2; source: 1 | 2 | 3; reason: number }> = {
  "called-ae-not-recognized": { result: 1, source: 1, reason: 7 },
  "calling-ae-not-recognized": { result: 1, source: 1, reason: 3 },
  "calling-address-not-allowed": { result: 1, source: 1, reason: 1 },
  "no-reason-given": { result: 1, source: 1, reason: 1 },
  "application-context-not-supported": { result: 1, source: 1, reason: 2 },
  "protocol-version-not-supported": { result: 1, source: 2, reason: 2 },
  "temporary-congestion": { result: 2, source: 3, reason: 1 },
  "local-limit-exceeded": { result: 2, source: 3, reason: 2 },
};

export interface AssociationRequestInfo {
  callingAe: string;
  calledAe: string;
  remoteAddress: string;
}

export type AssociationDecision = { accept: true } | { accept: false; reason: RejectReason };

export interface StoredInstance {
  /** Absolute path of the staged Part 10 file (fsynced, directory entry fsynced). */
  path: string;
  /** Size and SHA-256 (hex) of the whole file, meta header included. */
  sizeBytes: number;
  sha256: string;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  callingAe: string;
  calledAe: string;
  remoteAddress: string;
  associationId: string;
}

/** DIMSE status codes used by the SCP (PS3.4 Annex B.2.3, PS3.7 Annex C). */
export const DIMSE_STATUS = {
  Success: 0x0000,
  /** A7xx "Refused: Out of Resources": the SCP could not keep the instance now; the sender may retry. */
  OutOfResources: 0xa700,
  /** A9xx "Error: Data Set does not match SOP Class". */
  DataSetDoesNotMatchSopClass: 0xa900,
  /** Cxxx "Error: Cannot understand": the request itself is unusable (e.g. no valid SOP Instance UID). */
  CannotUnderstand: 0xc000,
  UnrecognizedOperation: 0x0211,
} as const;

/** Success (0x0000) and warnings (0x0001, 0x0107, 0x0116, 0xBxxx) mean the instance was kept. */
export function isKeptStatus(status: number): boolean {
  return status === 0x0000 || status === 0x0001 || status === 0x0107 || status === 0x0116 || (status & 0xf000) === 0xb000;
}

export type AssociationEndReason = "released" | "aborted-by-peer" | "aborted-by-scp" | "connection-closed" | "error";

export type AssociationEvent =
  | ({ type: "accepted"; associationId: string; acceptedContexts: number; rejectedContexts: number } & AssociationRequestInfo)
  | ({ type: "rejected"; associationId: string; reason: RejectReason } & AssociationRequestInfo)
  | ({
      type: "ended";
      associationId: string;
      how: AssociationEndReason;
      instancesStored: number;
      instancesFailed: number;
      bytesStored: number;
      durationMs: number;
    } & AssociationRequestInfo);

export type ScpMetric =
  | { kind: "association"; outcome: "accepted" | "rejected"; reason?: RejectReason }
  | { kind: "association-ended"; how: AssociationEndReason; durationMs: number }
  | {
      kind: "instance";
      outcome: "stored" | "failed";
      status: number;
      /** Why it failed, when it did. */
      failure?: "hook-threw" | "hook-status" | "write-failed" | "invalid-request" | "too-large";
      sizeBytes: number;
      /** From the first dataset fragment to the file being durable, and the hook's own time. */
      receiveMs: number;
      hookMs: number;
    }
  | { kind: "echo" };

export interface ScpStats {
  activeAssociations: number;
  associationsAccepted: number;
  associationsRejected: number;
  instancesStored: number;
  instancesFailed: number;
  bytesStored: number;
  echoes: number;
}

export interface StartScpOptions {
  /** TCP port; 0 picks a free one (read it back from the result). */
  port: number;
  /** Interface to bind, default all ("::" / "0.0.0.0" as Node chooses). */
  host?: string;
  /** Directory for staged files (created if missing). */
  stagingDir: string;
  acceptAssociation(req: AssociationRequestInfo): Promise<AssociationDecision>;
  /** Records the durable file; returns the DIMSE status to answer. Failure statuses make the SCP delete the file. */
  onStored(stored: StoredInstance): Promise<number>;
  onAssociation?(event: AssociationEvent): void;
  onMetric?(metric: ScpMetric): void;
  /**
   * Concurrent associations before new ones are refused (transient, local-limit-exceeded). Default 64.
   * At the limit, the association silent longest (at least evictIdleAfterMs) is aborted to make room.
   */
  maxAssociations?: number;
  /** Concurrent associations from one remote address (default 16); open connections from one address: twice that. */
  maxAssociationsPerAddress?: number;
  /** At maxAssociations, an association silent for at least this long gives way to a new one (default 10 s; 0: never). */
  evictIdleAfterMs?: number;
  /**
   * Largest instance accepted, in bytes (the data set as received plus the meta header). A larger one
   * is read to its end and dropped, its partial file deleted, and answered 0xA700 with a comment.
   * Default: no limit.
   */
  maxInstanceBytes?: number;
  /** Accept SOP classes outside the DICOM UID root (vendor private storage). Default true. */
  acceptPrivateSopClasses?: boolean;
  /** Abort an association silent for this long (dcmjs-dimse PDU timeout). Default 60 s. */
  idleTimeoutMs?: number;
  /** Abort a connection that sends no A-ASSOCIATE-RQ within this time. Default 30 s. */
  associationRequestTimeoutMs?: number;
  /**
   * fsync each file and the staging directory before calling onStored (default true). Only for
   * benchmarks and throwaway setups: without it an acknowledged instance can be lost in a power cut.
   */
  fsync?: boolean;
  /**
   * Largest P-DATA PDU we accept, advertised in the A-ASSOCIATE-AC (4 KiB to 256 KiB, default 256 KiB). Senders cut
   * each dataset into PDUs of at most this size; fewer, larger PDUs cost less per instance.
   */
  maxPduLength?: number;
  /** Delete `*.partial` files older than this at start (left by a crash mid-receive). Default 1 h; 0 = never. */
  removePartialsOlderThanMs?: number;
}

export interface ScpHandle {
  port: number;
  stats(): ScpStats;
  /** Stops accepting connections, lets open associations finish for up to `timeoutMs` (default 10 s), then aborts them. */
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Staging file: a Writable that streams into <dir>/<id>.partial, hashes as it goes, and on end
// fsyncs, renames to <id>.dcm and fsyncs the directory. It never emits 'error' (dcmjs-dimse would not
// handle it): a failure is recorded in `failure` and later writes are discarded.

class DirSyncer {
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  constructor(private readonly dir: string) {}

  /** Resolves after an fsync of the directory that started after this call. Concurrent callers share one. */
  sync(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) return (this.running = this.run());
    const after = this.running.catch(() => undefined);
    this.queued = after.then(() => {
      this.queued = null;
      return (this.running = this.run());
    });
    return this.queued;
  }

  private run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      fs.open(this.dir, "r", (err, fd) => {
        if (err) return reject(err);
        fs.fsync(fd, (syncErr) => fs.close(fd, () => (syncErr ? reject(syncErr) : resolve())));
      });
    }).finally(() => {
      this.running = null;
    });
  }
}

export const DEFAULT_MAX_PDU_LENGTH = 256 * 1024;
/** dcmjs-dimse advertises at most this (it takes the smaller of ours and its own). */
const MAX_PDU_LENGTH_LIMIT = 256 * 1024;

const STAGING_HIGH_WATER_MARK = 4 * 1024 * 1024;
const SLAB_BYTES = 1024 * 1024;

/**
 * Reusable 1 MiB write buffers. Received bytes are copied into a slab and the slab is written, so
 * that the socket's chunks die young: kept until the file is written, they outlive a scavenge, get
 * promoted, and their external memory then forces a full mark-compact every ~100 ms under load.
 */
const slabPool = {
  free: [] as Buffer[],
  acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
  },
  release(slab: Buffer): void {
    if (this.free.length < 16) this.free.push(slab);
  },
};

class StagingFile extends Writable {
  readonly id = randomUUID();
  readonly partialPath: string;
  readonly finalPath: string;
  readonly startedAt = Date.now();
  sizeBytes = 0;
  sha256 = "";
  failure: Error | null = null;
  durable = false;
  private fd: number | null = null;
  private readonly hash = createHash("sha256");
  private pressureHandler: (() => void) | null = null;

  constructor(
    dir: string,
    private readonly header: Buffer | null,
    private readonly dirSyncer: DirSyncer,
    private readonly fsyncEnabled = true,
  ) {
    super({ highWaterMark: STAGING_HIGH_WATER_MARK, decodeStrings: true });
    this.partialPath = path.join(dir, `${this.id}.partial`);
    this.finalPath = path.join(dir, `${this.id}.dcm`);
  }

  /** Called when write() returns false, i.e. the disk is slower than the network. */
  onPressure(handler: () => void): void {
    this.pressureHandler = handler;
  }

  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    const ok = (super.write as (...a: unknown[]) => boolean)(chunk, encoding, cb);
    if (!ok) this.pressureHandler?.();
    return ok;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    if (!this.header) {
      // Request unusable: discard the bytes (no file).
      this.failure = new Error("invalid request");
      return callback();
    }
    fs.open(this.partialPath, "wx", 0o640, (err, fd) => {
      if (err) {
        this.failure = err;
        return callback();
      }
      this.fd = fd;
      this.take([this.header!], () => callback());
    });
  }

  // Bytes are hashed as they arrive and gathered in a pooled slab (most instances: one write,
  // then the fsync); a full slab is written before more is copied in.
  private slab: Buffer | null = null;
  private used = 0;

  private account(chunk: Buffer): void {
    this.hash.update(chunk);
    this.sizeBytes += chunk.length;
  }

  private take(chunks: Buffer[], callback: () => void): void {
    let i = 0;
    let off = 0;
    const step = (): void => {
      if (this.failure || this.fd === null) return callback();
      while (i < chunks.length) {
        const chunk = chunks[i]!;
        if (off === 0) this.account(chunk);
        this.slab ??= slabPool.acquire();
        const n = chunk.copy(this.slab, this.used, off);
        this.used += n;
        off += n;
        if (off === chunk.length) {
          i++;
          off = 0;
        }
        if (this.used === this.slab.length) return this.flush(step);
      }
      callback();
    };
    step();
  }

  /** Writes what the slab holds; the slab stays with this file until it is closed. */
  private flush(done: () => void): void {
    if (this.failure || this.fd === null || !this.slab || this.used === 0) return done();
    const fd = this.fd;
    const slab = this.slab;
    const end = this.used;
    const writeFrom = (start: number) => {
      fs.write(fd, slab, start, end - start, null, (err, written) => {
        if (err) {
          this.failure = err;
          return done();
        }
        if (start + written < end) return writeFrom(start + written);
        this.used = 0;
        done();
      });
    };
    writeFrom(0);
  }

  private releaseSlab(): void {
    if (this.slab) slabPool.release(this.slab);
    this.slab = null;
    this.used = 0;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.take([chunk], () => callback());
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.take(
      chunks.map((c) => c.chunk),
      () => callback(),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush(() => {
      this.releaseSlab();
      this.finish(callback);
    });
  }

  private finish(callback: (error?: Error | null) => void): void {
    const fd = this.fd;
    if (this.failure || fd === null) {
      this.discardFile(() => callback());
      return;
    }
    this.sha256 = this.hash.digest("hex");
    const maybeSync = (cb: (err: NodeJS.ErrnoException | null) => void) => (this.fsyncEnabled ? fs.fsync(fd, cb) : cb(null));
    maybeSync((syncErr) => {
      fs.close(fd, (closeErr) => {
        this.fd = null;
        const err = syncErr ?? closeErr;
        if (err) {
          this.failure = err;
          return this.discardFile(() => callback());
        }
        fs.rename(this.partialPath, this.finalPath, (renameErr) => {
          if (renameErr) {
            this.failure = renameErr;
            return this.discardFile(() => callback());
          }
          (this.fsyncEnabled ? this.dirSyncer.sync() : Promise.resolve()).then(
            () => {
              this.durable = true;
              callback();
            },
            (dirErr: Error) => {
              this.failure = dirErr;
              this.discardFile(() => callback());
            },
          );
        });
      });
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.durable) this.discardFile(() => callback(error));
    else callback(error);
  }

  private discardFile(done: () => void): void {
    this.releaseSlab();
    const fd = this.fd;
    this.fd = null;
    const unlinkBoth = () =>
      fs.unlink(this.partialPath, () => {
        fs.unlink(this.finalPath, () => done());
      });
    if (fd !== null) fs.close(fd, () => unlinkBoth());
    else unlinkBoth();
  }
}

// ---------------------------------------------------------------------------------------------
// The per-connection SCP

interface ServerContext {
  options: StartScpOptions;
  stagingDir: string;
  dirSyncer: DirSyncer;
  stats: ScpStats;
  isClosing(): boolean;
  inflight: Set<Promise<unknown>>;
  maxPduLength: number;
  maxInstanceBytes: number;
  maxAssociationsPerAddress: number;
  /** Accepted associations per remote address. */
  associationsByAddress: Map<string, number>;
  connections: Set<AtriumScp>;
}

interface StoreState {
  file: StagingFile;
  /** Bytes of the data set received so far (held to maxInstanceBytes). */
  received: number;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  valid: boolean;
  messageId: number;
  pcId: number;
}

/** The data set following the last command: streamed into a staging file, or read and dropped. */
type DatasetInProgress =
  | { kind: "store"; pcId: number; state: StoreState }
  | { kind: "discard"; pcId: number; command: Command }
  /** Over maxInstanceBytes: its file is deleted, the rest is read and dropped, then answered 0xA700. */
  | { kind: "oversized"; pcId: number; state: StoreState };

const MAX_COMMAND_BYTES = 64 * 1024;

function cleanRemoteAddress(addr: string | undefined): string {
  if (!addr) return "";
  return addr.startsWith("::ffff:") ? addr.slice(7) : addr;
}

function firstAcceptedTransferSyntax(pc: PresentationContext): string | undefined {
  return pc.getTransferSyntaxUids().find((ts) => ACCEPTED_TRANSFER_SYNTAXES.has(ts));
}

class AtriumScp extends dimse.Scp {
  readonly associationId = randomUUID();
  private readonly ctx: ServerContext;
  private readonly sock: net.Socket;
  private info: AssociationRequestInfo;
  private accepted = false;
  private endHow: AssociationEndReason | null = null;
  private closed = false;
  private readonly openedAt = Date.now();
  private instancesStored = 0;
  private instancesFailed = 0;
  private bytesStored = 0;
  private dataset: DatasetInProgress | null = null;
  private pdv: { isCommand: boolean; isLast: boolean } | null = null;
  private commandFragments: Buffer[] = [];
  private commandBytes = 0;
  private commandPcId = 0;
  private paused = false;
  private onClosedCallbacks: Array<() => void> = [];
  /** When the peer last sent anything (ms since epoch): idle associations give way at the limit. */
  lastActivity = Date.now();
  /** Counted in ServerContext.associationsByAddress. */
  private countedAddress: string | null = null;

  constructor(socket: net.Socket, dimseOptions: ConstructorParameters<typeof dimse.Scp>[1], ctx: ServerContext) {
    super(socket, dimseOptions);
    this.ctx = ctx;
    this.sock = socket;
    this.info = { callingAe: "", calledAe: "", remoteAddress: cleanRemoteAddress(socket.remoteAddress) };
    // dcmjs-dimse's Server sets this; with `connectedTime` its association timeout applies as well.
    const self = this as unknown as { connected: boolean; connectedTime: number };
    self.connected = true;
    self.connectedTime = Date.now();
    this.takeOverDataPath(socket, ctx.maxPduLength);
    this.on("close", () => this.handleClose());
    this.on("networkError", (err: Error) => {
      log.info({ associationId: this.associationId, error: err.message }, "dicom network error");
      if (!this.endHow) this.endHow = "error";
      this.sock.destroy();
    });
  }

  /**
   * dcmjs-dimse reads the socket through one 'data' listener. It is replaced by a PduFramer:
   * P-DATA is handled here (lib/dicom-net/pdata); association, release and abort PDUs are passed
   * to the library's listener whole, so negotiation and release stay the library's.
   */
  private takeOverDataPath(socket: net.Socket, maxPduLength: number): void {
    const libraryListeners = socket.listeners("data") as Array<(chunk: Buffer) => void>;
    socket.removeAllListeners("data");
    const network = this as unknown as { lastPduTime?: number };
    const framer = new PduFramer(
      {
        onControlPdu: (pdu) => {
          for (const l of libraryListeners) l.call(socket, pdu);
        },
        onPDataPdu: () => {
          network.lastPduTime = Date.now();
        },
        onPdvStart: (pcId, isCommand, isLast) => this.onPdvStart(pcId, isCommand, isLast),
        onPdvData: (data) => this.onPdvData(data),
        onPdvEnd: () => this.onPdvEnd(),
      },
      maxPduLength,
    );
    socket.on("data", (chunk: Buffer) => {
      if (this.closed) return;
      this.lastActivity = Date.now();
      try {
        framer.push(chunk);
      } catch (err) {
        if (!(err instanceof PduProtocolError)) log.error({ associationId: this.associationId, error: (err as Error).name }, "dicom data path failed");
        this.protocolError((err as Error).message);
      }
    });
  }

  /** Accepted, not mid-operation (no data set or command arriving, no store being recorded): may give way at the limit. */
  isIdle(): boolean {
    return this.accepted && !this.closed && this.dataset === null && this.pdv === null && this.commandFragments.length === 0 && this.storing === 0;
  }

  /** Stores being recorded (hook running) on this association. */
  private storing = 0;

  /** Resolves when the connection has closed. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.onClosedCallbacks.push(resolve));
  }

  /** Sends A-ABORT (service-provider) and closes the connection. */
  abortNow(): void {
    if (this.closed) return;
    this.endHow ??= "aborted-by-scp";
    try {
      if ((this as unknown as { association?: Association }).association) this.sendAbort(2, 0);
    } catch {
      // socket already gone
    }
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  // --- association negotiation ---------------------------------------------------------------

  override associationRequested(association: Association): void {
    this.info = {
      callingAe: association.getCallingAeTitle(),
      calledAe: association.getCalledAeTitle(),
      remoteAddress: this.info.remoteAddress,
    };
    void this.negotiate(association);
  }

  private reject(reason: RejectReason): void {
    const c = REJECT_CODES[reason];
    this.ctx.stats.associationsRejected++;
    log.warn({ associationId: this.associationId, callingAe: this.info.callingAe, calledAe: this.info.calledAe, reason }, "association rejected");
    this.ctx.options.onAssociation?.({ type: "rejected", associationId: this.associationId, reason, ...this.info });
    this.ctx.options.onMetric?.({ kind: "association", outcome: "rejected", reason });
    this.sendAssociationReject(c.result, c.source, c.reason);
    this.endHow = "connection-closed";
    // The requestor closes the transport after A-ASSOCIATE-RJ; make sure it goes away regardless.
    setTimeout(() => this.sock.destroy(), 5000).unref();
  }

  private async negotiate(association: Association): Promise<void> {
    if (this.ctx.isClosing()) return this.reject("temporary-congestion");
    const address = this.info.remoteAddress;
    if ((this.ctx.associationsByAddress.get(address) ?? 0) >= this.ctx.maxAssociationsPerAddress) return this.reject("local-limit-exceeded");
    if (this.ctx.stats.activeAssociations >= (this.ctx.options.maxAssociations ?? 64) && !this.evictIdleAssociation()) return this.reject("local-limit-exceeded");
    let decision: AssociationDecision;
    try {
      decision = await this.ctx.options.acceptAssociation({ ...this.info });
    } catch (err) {
      log.error({ associationId: this.associationId, error: (err as Error).name, code: (err as { code?: string }).code }, "association policy failed");
      decision = { accept: false, reason: "temporary-congestion" };
    }
    if (this.closed) return;
    if (!decision.accept) return this.reject(decision.reason);
    if (this.ctx.isClosing()) return this.reject("temporary-congestion");
    if ((this.ctx.associationsByAddress.get(address) ?? 0) >= this.ctx.maxAssociationsPerAddress) return this.reject("local-limit-exceeded");

    // One operation at a time: dcmjs-dimse's receive state machine cannot interleave DIMSE messages.
    association.setNegotiateAsyncOps(false);
    association.setMaxAsyncOpsInvoked(1);
    association.setMaxAsyncOpsPerformed(1);

    let acceptedContexts = 0;
    let rejectedContexts = 0;
    const acceptPrivate = this.ctx.options.acceptPrivateSopClasses ?? true;
    for (const { context } of association.getPresentationContexts()) {
      const abstract = context.getAbstractSyntaxUid();
      if (abstract !== VERIFICATION_SOP_CLASS && !isStorageSopClass(abstract, acceptPrivate)) {
        context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        rejectedContexts++;
        continue;
      }
      const ts = firstAcceptedTransferSyntax(context);
      if (!ts) {
        context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
        rejectedContexts++;
        continue;
      }
      context.setResult(PresentationContextResult.Accept, ts);
      acceptedContexts++;
    }
    // The A-ASSOCIATE-AC carries our own receive limit (dcmjs-dimse would echo the requestor's).
    association.setMaxPduLength(this.ctx.maxPduLength);
    this.accepted = true;
    this.countedAddress = address;
    this.ctx.associationsByAddress.set(address, (this.ctx.associationsByAddress.get(address) ?? 0) + 1);
    this.ctx.stats.activeAssociations++;
    this.ctx.stats.associationsAccepted++;
    this.sendAssociationAccept();
    log.info(
      { associationId: this.associationId, callingAe: this.info.callingAe, calledAe: this.info.calledAe, acceptedContexts, rejectedContexts },
      "association accepted",
    );
    this.ctx.options.onAssociation?.({ type: "accepted", associationId: this.associationId, acceptedContexts, rejectedContexts, ...this.info });
    this.ctx.options.onMetric?.({ kind: "association", outcome: "accepted" });
  }

  /**
   * At the association limit: aborts the association silent longest, if it has been silent for at
   * least evictIdleAfterMs and is not mid-operation, so idle associations cannot lock senders out.
   */
  private evictIdleAssociation(): boolean {
    const after = this.ctx.options.evictIdleAfterMs ?? 10_000;
    if (after <= 0) return false;
    const now = Date.now();
    let victim: AtriumScp | null = null;
    for (const c of this.ctx.connections) {
      if (c === this || !c.isIdle() || now - c.lastActivity < after) continue;
      if (!victim || c.lastActivity < victim.lastActivity) victim = c;
    }
    if (!victim) return false;
    log.warn({ associationId: victim.associationId, idleMs: now - victim.lastActivity }, "association limit reached: aborting the longest idle association to admit a new one");
    victim.abortNow();
    return true;
  }

  override associationReleaseRequested(): void {
    this.endHow ??= "released";
    this.sendAssociationReleaseResponse();
    this.sock.end();
  }

  override abort(): void {
    this.endHow ??= "aborted-by-peer";
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    // A dataset cut off mid-transfer: drop its partial file.
    if (this.dataset?.kind === "store" && !this.dataset.state.file.writableEnded) this.dataset.state.file.destroy();
    this.dataset = null;
    if (this.accepted) {
      this.ctx.stats.activeAssociations--;
      if (this.countedAddress !== null) {
        const n = (this.ctx.associationsByAddress.get(this.countedAddress) ?? 1) - 1;
        if (n > 0) this.ctx.associationsByAddress.set(this.countedAddress, n);
        else this.ctx.associationsByAddress.delete(this.countedAddress);
      }
      const how = this.endHow ?? "connection-closed";
      const durationMs = Date.now() - this.openedAt;
      log.info(
        { associationId: this.associationId, how, instancesStored: this.instancesStored, instancesFailed: this.instancesFailed, durationMs },
        "association ended",
      );
      this.ctx.options.onAssociation?.({
        type: "ended",
        associationId: this.associationId,
        how,
        instancesStored: this.instancesStored,
        instancesFailed: this.instancesFailed,
        bytesStored: this.bytesStored,
        durationMs,
        ...this.info,
      });
      this.ctx.options.onMetric?.({ kind: "association-ended", how, durationMs });
    }
    for (const cb of this.onClosedCallbacks.splice(0)) cb();
  }

  // --- DIMSE over P-DATA (lib/dicom-net/pdata): commands and datasets ------------------------

  private protocolError(message: string): void {
    log.warn({ associationId: this.associationId, error: message }, "dicom protocol error; aborting the association");
    this.endHow ??= "error";
    this.abortNow();
  }

  private presentationContext(pcId: number): PresentationContext | null {
    const association = (this as unknown as { association?: Association }).association;
    try {
      const pc = association?.getPresentationContext(pcId);
      return pc && pc.getResult() === PresentationContextResult.Accept ? pc : null;
    } catch {
      return null;
    }
  }

  private onPdvStart(pcId: number, isCommand: boolean, isLast: boolean): void {
    if (!this.accepted) throw new PduProtocolError("P-DATA before the association was accepted");
    const pc = this.presentationContext(pcId);
    if (!pc) throw new PduProtocolError(`P-DATA on presentation context ${pcId}, which was not accepted`);
    if (isCommand) {
      if (this.dataset) throw new PduProtocolError("a command fragment arrived in the middle of a data set");
      if (this.commandFragments.length && this.commandPcId !== pcId) throw new PduProtocolError("command fragments on different presentation contexts");
      this.commandPcId = pcId;
    } else {
      if (!this.dataset) throw new PduProtocolError("a data set fragment arrived without a command announcing it");
      if (this.dataset.pcId !== pcId) throw new PduProtocolError("data set fragments on a different presentation context than their command");
    }
    this.pdv = { isCommand, isLast };
  }

  private onPdvData(data: Buffer): void {
    if (this.pdv!.isCommand) {
      this.commandBytes += data.length;
      if (this.commandBytes > MAX_COMMAND_BYTES) throw new PduProtocolError("command set larger than 64 KiB");
      this.commandFragments.push(data);
      return;
    }
    const d = this.dataset!;
    if (d.kind === "store") {
      const state = d.state;
      state.received += data.length;
      if (state.received > this.ctx.maxInstanceBytes) {
        // Over the limit: delete what was written, read the rest and drop it, answer at the end.
        this.dataset = { kind: "oversized", pcId: d.pcId, state };
        state.file.destroy();
        return;
      }
      state.file.write(data);
    }
  }

  private onPdvEnd(): void {
    const { isCommand, isLast } = this.pdv!;
    this.pdv = null;
    if (!isLast) return;
    if (isCommand) {
      const buf = this.commandFragments.length === 1 ? this.commandFragments[0]! : Buffer.concat(this.commandFragments, this.commandBytes);
      this.commandFragments = [];
      this.commandBytes = 0;
      this.handleCommand(parseCommand(buf), this.commandPcId);
      return;
    }
    const d = this.dataset!;
    this.dataset = null;
    if (d.kind === "discard") {
      this.respond(d.pcId, { commandField: responseCommandField(d.command.commandField), messageIdBeingRespondedTo: d.command.messageId, status: DIMSE_STATUS.UnrecognizedOperation, sopClassUid: d.command.sopClassUid });
      return;
    }
    if (d.kind === "oversized") {
      this.refuseOversized(d.state);
      return;
    }
    const { state } = d;
    state.file.end();
    this.storing++;
    state.file.once("finish", () => {
      const p = this.handleStore(state)
        .catch((err: Error) => {
          log.error({ associationId: this.associationId, error: err.name }, "c-store handling failed; aborting the association");
          this.abortNow();
        })
        .finally(() => this.storing--);
      this.ctx.inflight.add(p);
      void p.finally(() => this.ctx.inflight.delete(p));
    });
  }

  /** Answers a data set that went over maxInstanceBytes (its file is already deleted): 0xA700, nothing kept. */
  private refuseOversized(state: StoreState): void {
    const limit = this.ctx.maxInstanceBytes;
    this.instancesFailed++;
    this.ctx.stats.instancesFailed++;
    this.ctx.options.onMetric?.({ kind: "instance", outcome: "failed", status: DIMSE_STATUS.OutOfResources, failure: "too-large", sizeBytes: state.received, receiveMs: Date.now() - state.file.startedAt, hookMs: 0 });
    log.warn({ associationId: this.associationId, receivedBytes: state.received, limitBytes: limit }, "c-store refused: instance larger than the limit");
    this.respond(state.pcId, {
      commandField: COMMAND_FIELD.CStoreRsp,
      messageIdBeingRespondedTo: state.messageId,
      status: DIMSE_STATUS.OutOfResources,
      sopClassUid: state.sopClassUid,
      sopInstanceUid: state.sopInstanceUid,
      errorComment: `Instance larger than the limit of ${limit} bytes; not kept`,
    });
  }

  private respond(pcId: number, fields: ResponseFields): void {
    if (this.closed) return;
    this.sock.write(encodeCommandPData(pcId, encodeResponse(fields)));
  }

  private handleCommand(command: Command, pcId: number): void {
    const field = command.commandField;
    if (field === COMMAND_FIELD.CCancelRq) return; // nothing here is cancellable
    // Every request but C-CANCEL carries a Message ID, which its response must echo.
    if (command.messageId < 0) throw new PduProtocolError("request without a Message ID (0000,0110)");
    if (field === COMMAND_FIELD.CStoreRq && command.hasDataset) {
      this.startStore(command, this.presentationContext(pcId)!, pcId);
      return;
    }
    if (command.hasDataset) {
      // Unsupported service (or an echo with a data set): read the data set, then answer.
      this.dataset = { kind: "discard", pcId, command };
      return;
    }
    if (field === COMMAND_FIELD.CEchoRq) {
      this.ctx.stats.echoes++;
      this.ctx.options.onMetric?.({ kind: "echo" });
      this.respond(pcId, { commandField: COMMAND_FIELD.CEchoRsp, messageIdBeingRespondedTo: command.messageId, status: DIMSE_STATUS.Success, sopClassUid: command.sopClassUid || VERIFICATION_SOP_CLASS });
      return;
    }
    if (field === COMMAND_FIELD.CStoreRq) {
      this.instancesFailed++;
      this.ctx.stats.instancesFailed++;
      this.respond(pcId, { commandField: COMMAND_FIELD.CStoreRsp, messageIdBeingRespondedTo: command.messageId, status: DIMSE_STATUS.CannotUnderstand, sopClassUid: command.sopClassUid, sopInstanceUid: command.sopInstanceUid, errorComment: "C-STORE request without a data set" });
      return;
    }
    this.respond(pcId, { commandField: responseCommandField(field), messageIdBeingRespondedTo: command.messageId, status: DIMSE_STATUS.UnrecognizedOperation, sopClassUid: command.sopClassUid });
  }

  private startStore(command: Command, pc: PresentationContext, pcId: number): void {
    const { sopClassUid, sopInstanceUid } = command;
    const transferSyntaxUid = pc.getAcceptedTransferSyntaxUid() ?? "";
    const valid = isUsableUid(sopClassUid) && isUsableUid(sopInstanceUid) && !!transferSyntaxUid;
    const header = valid
      ? buildFileMetaHeader({
          sopClassUid,
          sopInstanceUid,
          transferSyntaxUid,
          sourceAe: this.info.callingAe,
          sendingAe: this.info.callingAe,
          receivingAe: this.info.calledAe,
        })
      : null;
    const file = new StagingFile(this.ctx.stagingDir, header, this.ctx.dirSyncer, this.ctx.options.fsync ?? true);
    // Back-pressure: stop reading the socket while the file is behind (TCP then slows the sender).
    file.onPressure(() => {
      if (this.paused || this.closed) return;
      this.paused = true;
      this.sock.pause();
      // 'drain' never comes once the file is ending (pressure on a data set's last fragment):
      // then reading resumes when the file has finished or was destroyed.
      const resume = () => {
        file.off("drain", resume).off("finish", resume).off("close", resume);
        if (!this.paused) return;
        this.paused = false;
        if (!this.closed) this.sock.resume();
      };
      file.on("drain", resume).on("finish", resume).on("close", resume);
    });
    const state: StoreState = { file, received: 0, sopClassUid, sopInstanceUid, transferSyntaxUid, valid, messageId: command.messageId, pcId };
    this.dataset = { kind: "store", pcId, state };
  }

  private async handleStore(state: StoreState): Promise<void> {
    const receiveMs = Date.now() - state.file.startedAt;
    let status: number;
    let failure: Extract<ScpMetric, { kind: "instance" }>["failure"];
    let hookMs = 0;
    let comment: string | undefined;
    const file = state.file;

    if (!state.valid) {
      status = DIMSE_STATUS.CannotUnderstand;
      failure = "invalid-request";
      comment = "Missing or invalid Affected SOP Class/Instance UID";
    } else if (file.failure || !file.durable) {
      status = DIMSE_STATUS.OutOfResources;
      failure = "write-failed";
      comment = "Could not write the instance to storage";
      log.error({ associationId: this.associationId, error: file.failure?.name, code: (file.failure as { code?: string } | null)?.code }, "staging write failed");
    } else if (this.closed) {
      // Nobody to answer: the sender will resend. Do not record it.
      await unlink(file.finalPath).catch(() => undefined);
      return;
    } else {
      const t0 = Date.now();
      try {
        status = await this.ctx.options.onStored({
          path: file.finalPath,
          sizeBytes: file.sizeBytes,
          sha256: file.sha256,
          sopClassUid: state.sopClassUid,
          sopInstanceUid: state.sopInstanceUid,
          transferSyntaxUid: state.transferSyntaxUid,
          callingAe: this.info.callingAe,
          calledAe: this.info.calledAe,
          remoteAddress: this.info.remoteAddress,
          associationId: this.associationId,
        });
        if (!Number.isInteger(status) || status < 0 || status > 0xffff) throw new TypeError("onStored returned no DIMSE status");
        if (!isKeptStatus(status)) failure = "hook-status";
      } catch (err) {
        // The instance could not be recorded: a transient condition on our side, not a fault in the
        // data, so "Refused: Out of Resources" (A700), which senders treat as retryable, rather than
        // C000 "Cannot understand", which tells the sender the object itself is unacceptable.
        status = DIMSE_STATUS.OutOfResources;
        failure = "hook-threw";
        comment = "Could not record the instance; retry later";
        log.error({ associationId: this.associationId, error: (err as Error).name, code: (err as { code?: string }).code }, "onStored failed");
      }
      hookMs = Date.now() - t0;
      if (failure) await unlink(file.finalPath).catch(() => undefined);
    }

    const sizeBytes = file.sizeBytes;
    if (failure) {
      this.instancesFailed++;
      this.ctx.stats.instancesFailed++;
    } else {
      this.instancesStored++;
      this.bytesStored += sizeBytes;
      this.ctx.stats.instancesStored++;
      this.ctx.stats.bytesStored += sizeBytes;
    }
    this.ctx.options.onMetric?.({ kind: "instance", outcome: failure ? "failed" : "stored", status, failure, sizeBytes, receiveMs, hookMs });
    log.debug({ associationId: this.associationId, status, sizeBytes, receiveMs, hookMs }, "c-store");

    this.respond(state.pcId, {
      commandField: COMMAND_FIELD.CStoreRsp,
      messageIdBeingRespondedTo: state.messageId,
      status,
      sopClassUid: state.sopClassUid,
      sopInstanceUid: state.sopInstanceUid,
      errorComment: comment,
    });
  }
}

// ---------------------------------------------------------------------------------------------

async function removeStalePartials(dir: string, olderThanMs: number): Promise<number> {
  if (olderThanMs <= 0) return 0;
  let removed = 0;
  const now = Date.now();
  for (const name of await readdir(dir)) {
    if (!name.endsWith(".partial")) continue;
    const p = path.join(dir, name);
    try {
      if (now - (await stat(p)).mtimeMs > olderThanMs) {
        await unlink(p);
        removed++;
      }
    } catch {
      // raced with another process
    }
  }
  return removed;
}

/** Starts the C-STORE/C-ECHO SCP. */
export async function startScp(options: StartScpOptions): Promise<ScpHandle> {
  const maxPduLength = options.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
  if (!Number.isInteger(maxPduLength) || maxPduLength < 4096 || maxPduLength > MAX_PDU_LENGTH_LIMIT) {
    throw new RangeError(`maxPduLength must be a whole number of bytes from 4096 to ${MAX_PDU_LENGTH_LIMIT}`);
  }
  const stagingDir = path.resolve(options.stagingDir);
  await mkdir(stagingDir, { recursive: true });
  const removed = await removeStalePartials(stagingDir, options.removePartialsOlderThanMs ?? 3_600_000);
  if (removed > 0) log.warn({ removed }, "removed stale partial files from the staging directory");

  let closing = false;
  const stats: ScpStats = {
    activeAssociations: 0,
    associationsAccepted: 0,
    associationsRejected: 0,
    instancesStored: 0,
    instancesFailed: 0,
    bytesStored: 0,
    echoes: 0,
  };
  const ctx: ServerContext = {
    options,
    stagingDir,
    dirSyncer: new DirSyncer(stagingDir),
    stats,
    isClosing: () => closing,
    inflight: new Set(),
    maxPduLength,
    maxInstanceBytes: options.maxInstanceBytes ?? Number.POSITIVE_INFINITY,
    maxAssociationsPerAddress: options.maxAssociationsPerAddress ?? 16,
    associationsByAddress: new Map(),
    connections: new Set(),
  };
  const dimseOptions = {
    connectTimeout: 10 * 60_000, // idle socket timeout; the PDU timeout below is the effective one
    associationTimeout: options.associationRequestTimeoutMs ?? 30_000,
    pduTimeout: options.idleTimeoutMs ?? 60_000,
  };
  const connections = ctx.connections;
  // Open connections per remote address (before and after association): at most twice the
  // per-address association limit, so one host cannot hold every socket with silent connections.
  const connectionsByAddress = new Map<string, number>();
  const maxConnectionsPerAddress = 2 * ctx.maxAssociationsPerAddress;
  let refusedConnections = 0;

  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    if (closing) {
      socket.destroy();
      return;
    }
    const address = cleanRemoteAddress(socket.remoteAddress);
    const open = connectionsByAddress.get(address) ?? 0;
    if (open >= maxConnectionsPerAddress) {
      if (refusedConnections++ % 100 === 0) log.warn({ open, refused: refusedConnections }, "too many open connections from one address; closing new ones");
      socket.destroy();
      return;
    }
    connectionsByAddress.set(address, open + 1);
    const scp = new AtriumScp(socket, dimseOptions, ctx);
    connections.add(scp);
    void scp.whenClosed().then(() => {
      connections.delete(scp);
      const n = (connectionsByAddress.get(address) ?? 1) - 1;
      if (n > 0) connectionsByAddress.set(address, n);
      else connectionsByAddress.delete(address);
    });
  });
  server.on("error", (err) => log.error({ error: err.message }, "dicom server error"));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  log.info({ port: address.port, host: options.host ?? "*" }, "dicom scp listening");

  let closePromise: Promise<void> | null = null;
  return {
    port: address.port,
    stats: () => ({ ...stats }),
    close(opts = {}) {
      if (closePromise) return closePromise;
      closing = true;
      closePromise = (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        const all = () => Promise.all([...connections].map((c) => c.whenClosed()));
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          all().then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), opts.timeoutMs ?? 10_000);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          log.warn({ open: connections.size }, "aborting associations still open at shutdown");
          for (const c of connections) c.abortNow();
          await all();
        }
        await Promise.allSettled([...ctx.inflight]);
        await serverClosed;
        log.info({ ...stats }, "dicom scp closed");
      })();
      return closePromise;
    },
  };
}
