// The SCP's data path after association negotiation (PS3.8 §9.3.5 P-DATA-TF, PS3.7 §6.3 and
// Annex E command sets), read and written without dcmjs-dimse: PDUs are framed straight off the
// socket, P-DATA value fragments are handed on as slices of the received chunks (no copy), command
// sets (always Implicit VR Little Endian) are parsed and responses encoded here. Every other PDU
// (association, release, abort) is handed back whole to dcmjs-dimse. Measured in bench/cstore.ts:
// the library's per-PDU objects and its dcmjs command (de)serialisation cost more CPU per instance
// than writing and hashing the dataset.

export const PDU_TYPE = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PDataTf: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

/** Largest non-P-DATA PDU accepted (association requests with many contexts are a few KB). */
const MAX_CONTROL_PDU_BYTES = 1024 * 1024;

export class PduProtocolError extends Error {}

export interface PduFramerHandlers {
  /** A PDU other than P-DATA-TF, whole (header included). */
  onControlPdu(pdu: Buffer): void;
  /** Start of a P-DATA-TF PDU (for idle timers). */
  onPDataPdu?(length: number): void;
  /** Start of a PDV: its presentation context, whether it carries command bytes, whether it is the last fragment. */
  onPdvStart(pcId: number, isCommand: boolean, isLast: boolean, valueLength: number): void;
  /** Value bytes of the current PDV; `data` is a view of the received chunk, valid during the call only unless kept. */
  onPdvData(data: Buffer): void;
  onPdvEnd(): void;
}

/**
 * Splits a byte stream into PDUs. P-DATA-TF PDUs are not buffered: their PDVs are reported as they
 * arrive. `maxPDataLength` is the limit we advertised; a longer P-DATA PDU is a protocol error.
 */
export class PduFramer {
  private header = Buffer.alloc(6);
  private headerHave = 0;
  /** Bytes of the current PDU body still to come. */
  private pduLeft = 0;
  private inPData = false;
  private control: Buffer[] = [];
  private controlHave = 0;
  private pdvHeader = Buffer.alloc(6);
  private pdvHeaderHave = 0;
  private pdvLeft = 0;
  private inPdv = false;
  private failed = false;

  constructor(
    private readonly handlers: PduFramerHandlers,
    private readonly maxPDataLength: number,
  ) {}

  /** Consumes one received chunk; throws PduProtocolError on malformed framing (then the peer must be aborted). */
  push(chunk: Buffer): void {
    if (this.failed) return;
    try {
      this.consume(chunk);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.pduLeft === 0 && !this.inPData && this.controlHave === 0 && this.headerHave < 6) {
        const n = Math.min(6 - this.headerHave, chunk.length - off);
        chunk.copy(this.header, this.headerHave, off, off + n);
        this.headerHave += n;
        off += n;
        if (this.headerHave < 6) return;
        this.startPdu();
        continue;
      }
      if (this.inPData) {
        off = this.consumePData(chunk, off);
        continue;
      }
      // control PDU body
      const n = Math.min(this.pduLeft, chunk.length - off);
      this.control.push(chunk.subarray(off, off + n));
      this.controlHave += n;
      this.pduLeft -= n;
      off += n;
      if (this.pduLeft === 0) this.endControlPdu();
    }
  }

  private startPdu(): void {
    const type = this.header[0]!;
    const length = this.header.readUInt32BE(2);
    if (type === PDU_TYPE.PDataTf) {
      if (length > this.maxPDataLength) throw new PduProtocolError(`P-DATA-TF PDU of ${length} bytes exceeds the negotiated maximum ${this.maxPDataLength}`);
      if (length < 6) throw new PduProtocolError("P-DATA-TF PDU without a complete PDV");
      this.handlers.onPDataPdu?.(length);
      this.inPData = true;
      this.pduLeft = length;
      this.headerHave = 0;
      return;
    }
    if (type < PDU_TYPE.AssociateRq || type > PDU_TYPE.Abort) throw new PduProtocolError(`unknown PDU type 0x${type.toString(16)}`);
    if (length > MAX_CONTROL_PDU_BYTES) throw new PduProtocolError(`PDU of type 0x${type.toString(16)} is ${length} bytes long`);
    this.control = [Buffer.from(this.header)];
    this.controlHave = 6;
    this.pduLeft = length;
    this.headerHave = 0;
    if (length === 0) this.endControlPdu();
  }

  private endControlPdu(): void {
    const pdu = this.control.length === 1 ? this.control[0]! : Buffer.concat(this.control, this.controlHave);
    this.control = [];
    this.controlHave = 0;
    this.handlers.onControlPdu(pdu);
  }

  private consumePData(chunk: Buffer, off: number): number {
    if (!this.inPdv) {
      const n = Math.min(6 - this.pdvHeaderHave, chunk.length - off, this.pduLeft);
      chunk.copy(this.pdvHeader, this.pdvHeaderHave, off, off + n);
      this.pdvHeaderHave += n;
      this.pduLeft -= n;
      off += n;
      if (this.pdvHeaderHave < 6) {
        if (this.pduLeft === 0) throw new PduProtocolError("P-DATA-TF PDU ends inside a PDV header");
        return off;
      }
      this.pdvHeaderHave = 0;
      const itemLength = this.pdvHeader.readUInt32BE(0);
      if (itemLength < 2 || itemLength - 2 > this.pduLeft) throw new PduProtocolError(`PDV item length ${itemLength} does not fit its PDU`);
      const mch = this.pdvHeader[5]!;
      this.pdvLeft = itemLength - 2;
      this.inPdv = true;
      this.handlers.onPdvStart(this.pdvHeader[4]!, (mch & 1) === 1, (mch & 2) === 2, this.pdvLeft);
      if (this.pdvLeft === 0) this.endPdv();
      return off;
    }
    const n = Math.min(this.pdvLeft, chunk.length - off);
    if (n > 0) this.handlers.onPdvData(chunk.subarray(off, off + n));
    this.pdvLeft -= n;
    this.pduLeft -= n;
    off += n;
    if (this.pdvLeft === 0) this.endPdv();
    return off;
  }

  private endPdv(): void {
    this.inPdv = false;
    this.handlers.onPdvEnd();
    if (this.pduLeft === 0) this.inPData = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Command sets (group 0000, Implicit VR Little Endian)

export const COMMAND_FIELD = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  CCancelRq: 0x0fff,
} as const;

/** (0000,0800) value meaning "no data set follows". */
export const NO_DATASET = 0x0101;

export interface Command {
  commandField: number;
  messageId: number;
  /** (0000,0002) Affected SOP Class UID, or (0000,0003) Requested SOP Class UID for N- services. */
  sopClassUid: string;
  /** (0000,1000) Affected SOP Instance UID, or (0000,1001) Requested SOP Instance UID. */
  sopInstanceUid: string;
  hasDataset: boolean;
}

function uidText(b: Buffer): string {
  return b.toString("latin1").replace(/[\0 ]+$/, "");
}

/** Parses a command set. Throws PduProtocolError if it is not one. */
export function parseCommand(buf: Buffer): Command {
  const cmd: Command = { commandField: -1, messageId: -1, sopClassUid: "", sopInstanceUid: "", hasDataset: false };
  let dataSetType = -1;
  let off = 0;
  while (off + 8 <= buf.length) {
    const group = buf.readUInt16LE(off);
    const element = buf.readUInt16LE(off + 2);
    const length = buf.readUInt32LE(off + 4);
    off += 8;
    if (group !== 0x0000) throw new PduProtocolError(`command set holds an element of group ${group.toString(16).padStart(4, "0")}`);
    if (length > buf.length - off) throw new PduProtocolError("command element runs past the end of the command set");
    const value = buf.subarray(off, off + length);
    off += length;
    switch (element) {
      case 0x0002:
      case 0x0003:
        cmd.sopClassUid ||= uidText(value);
        break;
      case 0x0100:
        if (length >= 2) cmd.commandField = value.readUInt16LE(0);
        break;
      case 0x0110:
        if (length >= 2) cmd.messageId = value.readUInt16LE(0);
        break;
      case 0x0800:
        if (length >= 2) dataSetType = value.readUInt16LE(0);
        break;
      case 0x1000:
      case 0x1001:
        cmd.sopInstanceUid ||= uidText(value);
        break;
    }
  }
  if (off !== buf.length) throw new PduProtocolError("command set ends inside an element header");
  if (cmd.commandField < 0 || dataSetType < 0) throw new PduProtocolError("command set without Command Field or Command Data Set Type");
  cmd.hasDataset = dataSetType !== NO_DATASET;
  return cmd;
}

function element(tagElement: number, value: Buffer): Buffer {
  const head = Buffer.allocUnsafe(8);
  head.writeUInt16LE(0x0000, 0);
  head.writeUInt16LE(tagElement, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}

function us(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16LE(n, 0);
  return b;
}

function padded(text: string, padByte: number): Buffer {
  const b = Buffer.from(text, "latin1");
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from([padByte])]);
}

export interface ResponseFields {
  commandField: number;
  messageIdBeingRespondedTo: number;
  status: number;
  sopClassUid?: string;
  sopInstanceUid?: string;
  /** (0000,0902) Error Comment, LO: at most 64 characters. */
  errorComment?: string;
}

/** Encodes a response command set (no data set follows), elements in tag order, with its group length. */
export function encodeResponse(f: ResponseFields): Buffer {
  const parts: Buffer[] = [];
  if (f.sopClassUid) parts.push(element(0x0002, padded(f.sopClassUid, 0)));
  parts.push(element(0x0100, us(f.commandField)));
  parts.push(element(0x0120, us(f.messageIdBeingRespondedTo)));
  parts.push(element(0x0800, us(NO_DATASET)));
  parts.push(element(0x0900, us(f.status)));
  if (f.errorComment) parts.push(element(0x0902, padded(f.errorComment.slice(0, 64), 0x20)));
  if (f.sopInstanceUid) parts.push(element(0x1000, padded(f.sopInstanceUid, 0)));
  const body = Buffer.concat(parts);
  const groupLength = Buffer.allocUnsafe(4);
  groupLength.writeUInt32LE(body.length, 0);
  return Buffer.concat([element(0x0000, groupLength), body]);
}

/** One P-DATA-TF PDU carrying `command` as a single, last command fragment on `pcId`. */
export function encodeCommandPData(pcId: number, command: Buffer): Buffer {
  const pdu = Buffer.allocUnsafe(12 + command.length);
  pdu[0] = PDU_TYPE.PDataTf;
  pdu[1] = 0;
  pdu.writeUInt32BE(6 + command.length, 2);
  pdu.writeUInt32BE(2 + command.length, 6);
  pdu[10] = pcId;
  pdu[11] = 0x03; // command, last fragment
  command.copy(pdu, 12);
  return pdu;
}

/** The response command field for a request's (PS3.7: request | 0x8000). */
export function responseCommandField(requestField: number): number {
  return requestField | 0x8000;
}

// ---------------------------------------------------------------------------------------------
// The SCU's side (lib/dicom-net/scu.ts): C-STORE-RQ command sets and dataset P-DATA, written
// without dcmjs-dimse's per-request objects (measured in bench/forward.ts).

/** Encodes a C-STORE-RQ command set (a data set follows), elements in tag order, with its group length. */
export function encodeStoreRequest(f: { messageId: number; sopClassUid: string; sopInstanceUid: string; priority?: number }): Buffer {
  const body = Buffer.concat([
    element(0x0002, padded(f.sopClassUid, 0)),
    element(0x0100, us(COMMAND_FIELD.CStoreRq)),
    element(0x0110, us(f.messageId)),
    element(0x0700, us(f.priority ?? 0)),
    element(0x0800, us(0x0000)),
    element(0x1000, padded(f.sopInstanceUid, 0)),
  ]);
  const groupLength = Buffer.allocUnsafe(4);
  groupLength.writeUInt32LE(body.length, 0);
  return Buffer.concat([element(0x0000, groupLength), body]);
}

export interface ResponseCommand {
  commandField: number;
  messageIdBeingRespondedTo: number;
  status: number;
  errorComment?: string;
}

/** Parses a response command set (Command Field, Message ID Being Responded To, Status, Error Comment). */
export function parseResponseCommand(buf: Buffer): ResponseCommand {
  const r: ResponseCommand = { commandField: -1, messageIdBeingRespondedTo: -1, status: -1 };
  let off = 0;
  while (off + 8 <= buf.length) {
    const group = buf.readUInt16LE(off);
    const el = buf.readUInt16LE(off + 2);
    const length = buf.readUInt32LE(off + 4);
    off += 8;
    if (group !== 0x0000) throw new PduProtocolError(`command set holds an element of group ${group.toString(16).padStart(4, "0")}`);
    if (length > buf.length - off) throw new PduProtocolError("command element runs past the end of the command set");
    const value = buf.subarray(off, off + length);
    off += length;
    if (el === 0x0100 && length >= 2) r.commandField = value.readUInt16LE(0);
    else if (el === 0x0120 && length >= 2) r.messageIdBeingRespondedTo = value.readUInt16LE(0);
    else if (el === 0x0900 && length >= 2) r.status = value.readUInt16LE(0);
    else if (el === 0x0902) r.errorComment = value.toString("latin1").replace(/[\0 ]+$/, "");
  }
  if (r.commandField < 0 || r.status < 0) throw new PduProtocolError("response command set without Command Field or Status");
  return r;
}

/**
 * The P-DATA-TF PDUs of one message part (command or data set) on `pcId`, as a list of buffers to
 * write (headers, and views of `value`: no copy of the value). Each PDU carries one PDV of at most
 * `maxPduLength` - 6 value bytes (0: the peer set no limit; 1 MB PDUs are used).
 */
export function pdataChunks(pcId: number, value: Buffer, isCommand: boolean, maxPduLength: number): Buffer[] {
  const maxValue = (maxPduLength > 0 ? Math.min(maxPduLength, 1024 * 1024) : 1024 * 1024) - 6;
  const out: Buffer[] = [];
  let off = 0;
  do {
    const n = Math.min(maxValue, value.length - off);
    const last = off + n >= value.length;
    const head = Buffer.allocUnsafe(12);
    head[0] = PDU_TYPE.PDataTf;
    head[1] = 0;
    head.writeUInt32BE(6 + n, 2);
    head.writeUInt32BE(2 + n, 6);
    head[10] = pcId;
    head[11] = (isCommand ? 0x01 : 0x00) | (last ? 0x02 : 0x00);
    out.push(head, value.subarray(off, off + n));
    off += n;
  } while (off < value.length);
  return out;
}
