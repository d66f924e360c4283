// lib/dicom-net/pdata: the PDU framer fed byte streams built by hand (PS3.8 §9.3), split every way a
// socket could split them, and the command-set codec checked against hand-written encodings
// (PS3.7 §6.3, Annex E), dcmjs's Implicit VR reader and dcmjs-dimse's own request encoder.
import dcmjs from "dcmjs";
import { describe, expect, it } from "vitest";
import { dimse } from "@/lib/dicom-net/dimse";
import {
  COMMAND_FIELD,
  encodeCommandPData,
  encodeResponse,
  encodeStoreRequest,
  parseResponseCommand,
  pdataChunks,
  NO_DATASET,
  parseCommand,
  PduFramer,
  PduProtocolError,
  responseCommandField,
  type ResponseFields,
} from "@/lib/dicom-net/pdata";

(dcmjs as any).log?.setLevel?.("silent");
const { DicomMessage, ReadBufferStream } = (dcmjs as any).data;

const IMPLICIT_VR_LE = "1.2.840.10008.1.2";
const CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"; // 25 characters: padded to 26
const MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"; // 25 characters
const VERIFICATION = "1.2.840.10008.1.1"; // 17 characters
const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"; // 27 characters

// ---------------------------------------------------------------------------------------------
// Byte builders, written from PS3.8 §9.3.1 (PDU header) and §9.3.5.1 (PDV item), not from pdata.ts.

function pdu(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = type;
  head[1] = 0; // reserved
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

/** A PDV item: item length (4, BE), presentation context ID, message control header, value. */
function pdv(pcId: number, opts: { command: boolean; last: boolean }, value: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32BE(value.length + 2, 0);
  head[4] = pcId;
  head[5] = (opts.command ? 0x01 : 0) | (opts.last ? 0x02 : 0);
  return Buffer.concat([head, value]);
}

const pdata = (...pdvs: Buffer[]) => pdu(0x04, Buffer.concat(pdvs));

/** Deterministic bytes (so a misplaced slice shows up as wrong data, not as equal zeros). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Recorder: one flat list of events; consecutive data callbacks of one PDV are merged, so the list
// does not depend on how the stream was cut.

type Ev =
  | { ev: "control"; hex: string }
  | { ev: "pdata"; length: number }
  | { ev: "pdv"; pcId: number; isCommand: boolean; isLast: boolean; length: number }
  | { ev: "data"; hex: string }
  | { ev: "end" };

function recorder(maxPData = 1 << 20) {
  const events: Ev[] = [];
  const dataViews: Buffer[] = [];
  let inPdv = false;
  let announced = 0;
  let received = 0;
  const framer = new PduFramer(
    {
      onControlPdu: (p) => {
        expect(inPdv).toBe(false);
        events.push({ ev: "control", hex: p.toString("hex") });
      },
      onPDataPdu: (length) => events.push({ ev: "pdata", length }),
      onPdvStart: (pcId, isCommand, isLast, length) => {
        expect(inPdv).toBe(false);
        inPdv = true;
        announced = length;
        received = 0;
        events.push({ ev: "pdv", pcId, isCommand, isLast, length });
      },
      onPdvData: (data) => {
        expect(inPdv).toBe(true);
        expect(data.length).toBeGreaterThan(0);
        received += data.length;
        expect(received).toBeLessThanOrEqual(announced);
        dataViews.push(data);
        const last = events[events.length - 1]!;
        if (last.ev === "data") last.hex += data.toString("hex");
        else events.push({ ev: "data", hex: data.toString("hex") });
      },
      onPdvEnd: () => {
        expect(inPdv).toBe(true);
        expect(received).toBe(announced);
        inPdv = false;
        events.push({ ev: "end" });
      },
    },
    maxPData,
  );
  return { framer, events, dataViews };
}

// ---------------------------------------------------------------------------------------------
// The stream: association request, P-DATA with one PDV, P-DATA with several (commands and data,
// two presentation contexts, a zero-length PDV), a bigger data PDU, release request, abort.

const assocBody = Buffer.concat([
  Buffer.from([0x00, 0x01, 0x00, 0x00]), // protocol version, reserved
  Buffer.from("ATRIUM          ", "latin1"),
  Buffer.from("STORESCU        ", "latin1"),
  Buffer.alloc(32),
  Buffer.from([0x10, 0x00, 0x00, 0x15]), // application context item: type, reserved, length 21
  Buffer.from("1.2.840.10008.3.1.1.1", "latin1"),
]);
const ASSOCIATE_RQ = pdu(0x01, assocBody);
const RELEASE_RQ = pdu(0x05, Buffer.alloc(4));
const ABORT = pdu(0x07, Buffer.from([0, 0, 2, 0]));

const cmd1 = bytes(20, 1);
const ds1a = bytes(7, 2);
const cmd3a = bytes(5, 3);
const cmd3b = bytes(9, 4);
const ds5 = bytes(300, 5);
const cmd7 = bytes(1, 6);

const PDATA_ONE = pdata(pdv(1, { command: true, last: true }, cmd1));
const PDATA_SEVERAL = pdata(
  pdv(1, { command: false, last: false }, ds1a),
  pdv(1, { command: false, last: true }, Buffer.alloc(0)),
  pdv(3, { command: true, last: false }, cmd3a),
  pdv(3, { command: true, last: true }, cmd3b),
);
const PDATA_BIG = pdata(pdv(5, { command: false, last: true }, ds5));
const PDATA_TAIL = pdata(pdv(7, { command: true, last: false }, cmd7));

const STREAM = Buffer.concat([ASSOCIATE_RQ, PDATA_ONE, PDATA_SEVERAL, RELEASE_RQ, PDATA_BIG, PDATA_TAIL, ABORT]);

const EXPECTED: Ev[] = [
  { ev: "control", hex: ASSOCIATE_RQ.toString("hex") },
  { ev: "pdata", length: 6 + 20 },
  { ev: "pdv", pcId: 1, isCommand: true, isLast: true, length: 20 },
  { ev: "data", hex: cmd1.toString("hex") },
  { ev: "end" },
  { ev: "pdata", length: 6 + 7 + 6 + 0 + 6 + 5 + 6 + 9 },
  { ev: "pdv", pcId: 1, isCommand: false, isLast: false, length: 7 },
  { ev: "data", hex: ds1a.toString("hex") },
  { ev: "end" },
  { ev: "pdv", pcId: 1, isCommand: false, isLast: true, length: 0 },
  { ev: "end" },
  { ev: "pdv", pcId: 3, isCommand: true, isLast: false, length: 5 },
  { ev: "data", hex: cmd3a.toString("hex") },
  { ev: "end" },
  { ev: "pdv", pcId: 3, isCommand: true, isLast: true, length: 9 },
  { ev: "data", hex: cmd3b.toString("hex") },
  { ev: "end" },
  { ev: "control", hex: "050000000004" + "00000000" },
  { ev: "pdata", length: 6 + 300 },
  { ev: "pdv", pcId: 5, isCommand: false, isLast: true, length: 300 },
  { ev: "data", hex: ds5.toString("hex") },
  { ev: "end" },
  { ev: "pdata", length: 6 + 1 },
  { ev: "pdv", pcId: 7, isCommand: true, isLast: false, length: 1 },
  { ev: "data", hex: cmd7.toString("hex") },
  { ev: "end" },
  { ev: "control", hex: "070000000004" + "00000200" },
];

function feed(chunks: Buffer[], maxPData?: number): Ev[] {
  const r = recorder(maxPData);
  for (const c of chunks) r.framer.push(c);
  return r.events;
}

/** Copies, so the framer never sees two chunks sharing memory. */
const fresh = (b: Buffer) => Buffer.from(b);

describe("PduFramer", () => {
  it("the hand-built stream is what the expected list says (sanity check of the builders)", () => {
    expect(ASSOCIATE_RQ[0]).toBe(0x01);
    expect(ASSOCIATE_RQ.readUInt32BE(2)).toBe(ASSOCIATE_RQ.length - 6);
    expect(PDATA_SEVERAL.readUInt32BE(2)).toBe(6 + 7 + 6 + 6 + 5 + 6 + 9);
    expect(RELEASE_RQ.toString("hex")).toBe("05000000000400000000");
  });

  it("reports the stream fed in one chunk", () => {
    expect(feed([fresh(STREAM)])).toEqual(EXPECTED);
  });

  it("reports the same events for every split into two chunks", () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const events = feed([fresh(STREAM.subarray(0, cut)), fresh(STREAM.subarray(cut))]);
      expect(events, `cut at ${cut}`).toEqual(EXPECTED);
    }
  });

  it("reports the same events fed one byte at a time", () => {
    const chunks = [...STREAM].map((b) => Buffer.from([b]));
    expect(feed(chunks)).toEqual(EXPECTED);
  });

  it("reports the same events for 300 random partitions (empty chunks included)", () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let round = 0; round < 300; round++) {
      const chunks: Buffer[] = [];
      let off = 0;
      while (off < STREAM.length) {
        const n = rnd(5) === 0 ? 0 : 1 + rnd(40);
        chunks.push(fresh(STREAM.subarray(off, off + n)));
        off += n;
      }
      expect(feed(chunks), `round ${round}`).toEqual(EXPECTED);
    }
  });

  it("hands PDV values on as views of the received chunk, not copies", () => {
    const chunk = Buffer.alloc(STREAM.length); // not from the shared pool: its own ArrayBuffer
    STREAM.copy(chunk);
    const r = recorder();
    r.framer.push(chunk);
    expect(r.dataViews.length).toBeGreaterThan(0);
    for (const v of r.dataViews) {
      expect(v.buffer).toBe(chunk.buffer);
      expect(v.byteOffset).toBeGreaterThanOrEqual(chunk.byteOffset);
      expect(v.byteOffset + v.length).toBeLessThanOrEqual(chunk.byteOffset + chunk.length);
    }
  });

  it("accepts a P-DATA PDU exactly as long as the maximum, and a control PDU of exactly 1 MiB", () => {
    const p = pdata(pdv(1, { command: false, last: true }, bytes(94, 9))); // PDU length 100
    expect(feed([p], 100)).toEqual([
      { ev: "pdata", length: 100 },
      { ev: "pdv", pcId: 1, isCommand: false, isLast: true, length: 94 },
      { ev: "data", hex: bytes(94, 9).toString("hex") },
      { ev: "end" },
    ]);
    const big = pdu(0x02, bytes(1024 * 1024, 10));
    const events = feed([big.subarray(0, 1000), big.subarray(1000)]);
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({ ev: "control", hex: big.toString("hex") });
  });

  it("hands back a control PDU with an empty body", () => {
    expect(feed([Buffer.from([0x06, 0, 0, 0, 0, 0]), fresh(RELEASE_RQ)])).toEqual([
      { ev: "control", hex: "060000000000" },
      { ev: "control", hex: "05000000000400000000" },
    ]);
  });

  describe("protocol errors", () => {
    /** Feeds `chunks`; expects the push at index `failsAt` to throw PduProtocolError matching `message`. */
    function expectFailure(chunks: Buffer[], failsAt: number, message: RegExp, maxPData = 1 << 20) {
      const r = recorder(maxPData);
      for (let i = 0; i < chunks.length; i++) {
        if (i < failsAt) {
          r.framer.push(chunks[i]!);
          continue;
        }
        let err: unknown;
        try {
          r.framer.push(chunks[i]!);
        } catch (e) {
          err = e;
        }
        expect(err, `push ${i} should throw`).toBeInstanceOf(PduProtocolError);
        expect((err as Error).message).toMatch(message);
        break;
      }
      return r;
    }

    it("rejects a P-DATA PDU longer than the negotiated maximum, as soon as its header is complete", () => {
      const p = pdata(pdv(1, { command: false, last: true }, bytes(95, 1))); // 101 > 100
      const r = expectFailure([p.subarray(0, 5), p.subarray(5, 6)], 1, /101 bytes exceeds the negotiated maximum 100/, 100);
      expect(r.events).toEqual([]);
    });

    it("rejects unknown PDU types", () => {
      for (const type of [0x00, 0x08, 0x09, 0xff]) {
        const r = expectFailure([pdu(type, Buffer.alloc(4))], 0, /unknown PDU type/);
        expect(r.events).toEqual([]);
      }
    });

    it("rejects an unknown PDU type after valid PDUs, having reported those", () => {
      const r = expectFailure([fresh(RELEASE_RQ), pdu(0x09, Buffer.alloc(4))], 1, /unknown PDU type 0x9/);
      expect(r.events).toEqual([{ ev: "control", hex: RELEASE_RQ.toString("hex") }]);
    });

    it("rejects a PDV whose item length runs past its PDU", () => {
      // PDU length 16: a PDV header claiming 12 value bytes where only 10 remain.
      const body = Buffer.concat([Buffer.from([0, 0, 0, 14, 1, 0x03]), bytes(10, 1)]);
      const bad = pdu(0x04, body);
      expectFailure([bad], 0, /PDV item length 14 does not fit its PDU/);
      // byte at a time: the byte completing the PDV header throws, nothing was reported as a PDV
      const chunks = [...bad].map((b) => Buffer.from([b]));
      const r = expectFailure(chunks, 11, /does not fit/);
      expect(r.events).toEqual([{ ev: "pdata", length: 16 }]);
    });

    it("rejects a PDV item length below 2 (no room for context ID and control header)", () => {
      const bad = pdu(0x04, Buffer.from([0, 0, 0, 1, 1, 0x03, 0]));
      expectFailure([bad], 0, /PDV item length 1/);
    });

    it("rejects a P-DATA PDU that ends inside a PDV header", () => {
      // one complete PDV (7 bytes), then 3 bytes of a second PDV header: PDU length 10
      const bad = pdu(0x04, Buffer.concat([pdv(1, { command: false, last: false }, Buffer.from([0xab])), Buffer.from([0, 0, 0])]));
      const r = expectFailure([bad], 0, /ends inside a PDV header/);
      expect(r.events).toEqual([
        { ev: "pdata", length: 10 },
        { ev: "pdv", pcId: 1, isCommand: false, isLast: false, length: 1 },
        { ev: "data", hex: "ab" },
        { ev: "end" },
      ]);
      // split right after the first PDV: the second chunk throws
      expectFailure([bad.subarray(0, 13), bad.subarray(13)], 1, /ends inside a PDV header/);
      // followed by another PDU in the same chunk: the next PDU's bytes are not taken as PDV header
      const r2 = expectFailure([Buffer.concat([bad, RELEASE_RQ])], 0, /ends inside a PDV header/);
      expect(r2.events.filter((e) => e.ev === "control")).toEqual([]);
    });

    it("rejects a P-DATA PDU too short to hold one PDV header", () => {
      expectFailure([pdu(0x04, Buffer.alloc(4))], 0, /without a complete PDV/);
      expectFailure([pdu(0x04, Buffer.alloc(0))], 0, /without a complete PDV/);
    });

    it("rejects a control PDU whose length field is over 1 MiB, without waiting for its body", () => {
      const head = Buffer.from([0x01, 0, 0, 0, 0, 0]);
      head.writeUInt32BE(1024 * 1024 + 1, 2);
      const r = expectFailure([head], 0, /type 0x1 is 1048577 bytes long/);
      expect(r.events).toEqual([]);
    });

    it("ignores every push after an error: no throw, no events", () => {
      const r = expectFailure([pdu(0x09, Buffer.alloc(0))], 0, /unknown PDU type/);
      expect(() => r.framer.push(fresh(STREAM))).not.toThrow();
      expect(() => r.framer.push(pdu(0x09, Buffer.alloc(0)))).not.toThrow();
      expect(r.events).toEqual([]);
    });

    it("stops after a handler throws (the SCP's own checks rely on this)", () => {
      const events: string[] = [];
      const framer = new PduFramer(
        {
          onControlPdu: () => events.push("control"),
          onPdvStart: (pcId) => {
            events.push(`pdv ${pcId}`);
            if (pcId === 3) throw new PduProtocolError("context 3 not accepted");
          },
          onPdvData: () => events.push("data"),
          onPdvEnd: () => events.push("end"),
        },
        1 << 20,
      );
      expect(() => framer.push(fresh(STREAM))).toThrow("context 3 not accepted");
      expect(events).toEqual(["control", "pdv 1", "data", "end", "pdv 1", "data", "end", "pdv 1", "end", "pdv 3"]);
      framer.push(fresh(STREAM));
      expect(events).toHaveLength(10);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Command sets

/** One Implicit VR LE element of group 0000. */
function el(element: number, value: Buffer, group = 0x0000): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}
const usv = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
};
/** UI value padded to even length with NUL. */
const ui = (s: string) => {
  const b = Buffer.from(s, "latin1");
  return b.length % 2 ? Buffer.concat([b, Buffer.from([0])]) : b;
};
/** A command set: group length (0000,0000) first, then `elements`. */
function commandSet(...elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(body.length, 0);
  return Buffer.concat([el(0x0000, gl), body]);
}

function cStoreRq(dataSetType: number): Buffer {
  return commandSet(
    el(0x0002, ui(CT_STORAGE)),
    el(0x0100, usv(0x0001)),
    el(0x0110, usv(0x1234)),
    el(0x0700, usv(0x0000)),
    el(0x0800, usv(dataSetType)),
    el(0x1000, ui("1.2.826.0.1.3680043.2.1125.1.123")),
    el(0x1030, Buffer.from("MOVER ", "latin1")), // Move Originator AE: not read, must be skipped
    el(0x1031, usv(9)),
  );
}

describe("parseCommand", () => {
  it("parses a hand-encoded C-STORE-RQ with a data set", () => {
    expect(parseCommand(cStoreRq(0x0000))).toEqual({
      commandField: COMMAND_FIELD.CStoreRq,
      messageId: 0x1234,
      sopClassUid: CT_STORAGE,
      sopInstanceUid: "1.2.826.0.1.3680043.2.1125.1.123",
      hasDataset: true,
    });
  });

  it("reads (0000,0800) = 0x0101 as no data set, any other value as a data set", () => {
    expect(parseCommand(cStoreRq(NO_DATASET)).hasDataset).toBe(false);
    expect(parseCommand(cStoreRq(0x0102)).hasDataset).toBe(true); // dcmjs-dimse writes 0x0202
    expect(parseCommand(cStoreRq(0xfefe)).hasDataset).toBe(true);
  });

  it("strips NUL and space padding from UIDs", () => {
    const c = parseCommand(
      commandSet(el(0x0002, Buffer.from("1.2.3 ", "latin1")), el(0x0100, usv(0x0030)), el(0x0110, usv(1)), el(0x0800, usv(NO_DATASET)), el(0x1000, Buffer.from("1.2.3.4\0", "latin1"))),
    );
    expect(c.sopClassUid).toBe("1.2.3");
    expect(c.sopInstanceUid).toBe("1.2.3.4");
  });

  it("uses the Requested SOP Class/Instance UIDs (0003/1001) of N- services when 0002/1000 are absent", () => {
    const nAction = commandSet(
      el(0x0003, ui("1.2.840.10008.1.20.1")),
      el(0x0100, usv(0x0130)),
      el(0x0110, usv(3)),
      el(0x0800, usv(0x0000)),
      el(0x1001, ui("1.2.840.10008.1.20.1.1")),
      el(0x1008, usv(1)), // Action Type ID
    );
    expect(parseCommand(nAction)).toEqual({ commandField: 0x0130, messageId: 3, sopClassUid: "1.2.840.10008.1.20.1", sopInstanceUid: "1.2.840.10008.1.20.1.1", hasDataset: true });
  });

  it("prefers the Affected UIDs when both are present", () => {
    const c = parseCommand(
      commandSet(el(0x0002, ui(CT_STORAGE)), el(0x0003, ui(MR_STORAGE)), el(0x0100, usv(1)), el(0x0110, usv(1)), el(0x0800, usv(0)), el(0x1000, ui("1.2.3")), el(0x1001, ui("1.2.4"))),
    );
    expect(c.sopClassUid).toBe(CT_STORAGE);
    expect(c.sopInstanceUid).toBe("1.2.3");
  });

  it("parses a command set without a group length element", () => {
    const c = parseCommand(Buffer.concat([el(0x0100, usv(0x0030)), el(0x0110, usv(77)), el(0x0800, usv(NO_DATASET))]));
    expect(c).toMatchObject({ commandField: 0x0030, messageId: 77, hasDataset: false, sopClassUid: "", sopInstanceUid: "" });
  });

  it("throws PduProtocolError on an element outside group 0000", () => {
    const bad = commandSet(el(0x0100, usv(1)), el(0x0800, usv(0)), el(0x0016, ui(CT_STORAGE), 0x0008));
    expect(() => parseCommand(bad)).toThrow(PduProtocolError);
    expect(() => parseCommand(bad)).toThrow(/group 0008/);
  });

  it("throws PduProtocolError on a truncated element value", () => {
    const whole = cStoreRq(0x0000);
    expect(() => parseCommand(whole.subarray(0, whole.length - 1))).toThrow(PduProtocolError);
    expect(() => parseCommand(whole.subarray(0, whole.length - 1))).toThrow(/runs past the end/);
  });

  it("throws PduProtocolError on a command set ending inside an element header", () => {
    const whole = cStoreRq(0x0000);
    const cut = Buffer.concat([whole, Buffer.from([0, 0, 0x00])]);
    expect(() => parseCommand(cut)).toThrow(/ends inside an element header/);
  });

  it("throws PduProtocolError without Command Field or Command Data Set Type", () => {
    const noField = commandSet(el(0x0002, ui(CT_STORAGE)), el(0x0110, usv(1)), el(0x0800, usv(0)));
    expect(() => parseCommand(noField)).toThrow(PduProtocolError);
    expect(() => parseCommand(noField)).toThrow(/without Command Field/);
    const noType = commandSet(el(0x0100, usv(1)), el(0x0110, usv(1)));
    expect(() => parseCommand(noType)).toThrow(PduProtocolError);
    // a Command Field too short to hold a US counts as missing
    const shortField = commandSet(el(0x0100, Buffer.alloc(0)), el(0x0800, usv(0)));
    expect(() => parseCommand(shortField)).toThrow(PduProtocolError);
    expect(() => parseCommand(Buffer.alloc(0))).toThrow(PduProtocolError);
  });

  it("parses the command sets dcmjs-dimse encodes for C-STORE, C-ECHO and C-FIND requests", () => {
    const ds = new dimse.Dataset({ SOPClassUID: MR_STORAGE, SOPInstanceUID: "1.2.3.4.5.6.7" }, IMPLICIT_VR_LE);
    const store = new dimse.requests.CStoreRequest(ds);
    store.setMessageId(41);
    const storeBuf = store.getCommandDataset().getDenaturalizedCommandDataset();
    expect(parseCommand(storeBuf)).toEqual({ commandField: 0x0001, messageId: 41, sopClassUid: MR_STORAGE, sopInstanceUid: "1.2.3.4.5.6.7", hasDataset: true });

    const echo = new dimse.requests.CEchoRequest();
    echo.setMessageId(42);
    expect(parseCommand(echo.getCommandDataset().getDenaturalizedCommandDataset())).toEqual({
      commandField: 0x0030,
      messageId: 42,
      sopClassUid: VERIFICATION,
      sopInstanceUid: "",
      hasDataset: false,
    });

    const find = dimse.requests.CFindRequest.createStudyFindRequest({ PatientID: "X" });
    find.setMessageId(43);
    expect(parseCommand(find.getCommandDataset().getDenaturalizedCommandDataset())).toMatchObject({
      commandField: 0x0020,
      messageId: 43,
      sopClassUid: STUDY_ROOT_FIND,
      hasDataset: true,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Responses

interface Walked {
  tag: number;
  value: Buffer;
  /** Offset of the element header in the command set. */
  at: number;
}

/** Walks an Implicit VR LE command set element by element; fails the test on any framing fault. */
function walk(buf: Buffer): Walked[] {
  const out: Walked[] = [];
  let off = 0;
  while (off < buf.length) {
    expect(off + 8, "element header fits").toBeLessThanOrEqual(buf.length);
    const group = buf.readUInt16LE(off);
    const element = buf.readUInt16LE(off + 2);
    const length = buf.readUInt32LE(off + 4);
    expect(group).toBe(0);
    expect(off + 8 + length, "element value fits").toBeLessThanOrEqual(buf.length);
    out.push({ tag: element, value: buf.subarray(off + 8, off + 8 + length), at: off });
    off += 8 + length;
  }
  return out;
}

function checkResponse(f: ResponseFields): Map<number, Buffer> {
  const buf = encodeResponse(f);
  const els = walk(buf);
  // ascending tag order, no duplicates
  for (let i = 1; i < els.length; i++) expect(els[i]!.tag).toBeGreaterThan(els[i - 1]!.tag);
  // group length first, equal to the bytes after it
  expect(els[0]!.tag).toBe(0x0000);
  expect(els[0]!.value.length).toBe(4);
  expect(els[0]!.value.readUInt32LE(0)).toBe(buf.length - 12);
  // every value of even length
  for (const e of els) expect(e.value.length % 2, `element ${e.tag.toString(16)}`).toBe(0);
  const m = new Map(els.map((e) => [e.tag, e.value]));
  expect(m.get(0x0100)!.readUInt16LE(0)).toBe(f.commandField);
  expect(m.get(0x0100)!.length).toBe(2);
  expect(m.get(0x0120)!.readUInt16LE(0)).toBe(f.messageIdBeingRespondedTo);
  expect(m.get(0x0800)!.readUInt16LE(0)).toBe(0x0101);
  expect(m.get(0x0900)!.readUInt16LE(0)).toBe(f.status);
  expect(m.has(0x0110)).toBe(false); // a response carries Message ID Being Responded To, not Message ID
  return m;
}

describe("encodeResponse", () => {
  it("encodes a C-STORE-RSP with odd-length UIDs padded with NUL and an error comment padded with a space", () => {
    const m = checkResponse({
      commandField: 0x8001,
      messageIdBeingRespondedTo: 0xbeef,
      status: 0xa700,
      sopClassUid: CT_STORAGE,
      sopInstanceUid: "1.2.3.4.5",
      errorComment: "Could not record the instance; retry later", // 42 characters
    });
    expect([...m.keys()]).toEqual([0x0000, 0x0002, 0x0100, 0x0120, 0x0800, 0x0900, 0x0902, 0x1000]);
    expect(m.get(0x0002)!.toString("latin1")).toBe(CT_STORAGE + "\0");
    expect(m.get(0x1000)!.toString("latin1")).toBe("1.2.3.4.5\0");
    expect(m.get(0x0902)!.toString("latin1")).toBe("Could not record the instance; retry later");
    const odd = checkResponse({ commandField: 0x8001, messageIdBeingRespondedTo: 1, status: 0xc000, errorComment: "odd" });
    expect(odd.get(0x0902)!.toString("latin1")).toBe("odd ");
  });

  it("keeps even-length UIDs unpadded", () => {
    const m = checkResponse({ commandField: 0x8030, messageIdBeingRespondedTo: 1, status: 0, sopClassUid: "1.2.3.4", sopInstanceUid: "1.23" });
    expect(m.get(0x0002)!.toString("latin1")).toBe("1.2.3.4\0");
    expect(m.get(0x1000)!.toString("latin1")).toBe("1.23");
    const even = checkResponse({ commandField: 0x8030, messageIdBeingRespondedTo: 1, status: 0, sopClassUid: "1.2.34" });
    expect(even.get(0x0002)!.toString("latin1")).toBe("1.2.34");
  });

  it("cuts the error comment at 64 characters (LO)", () => {
    const long = "E".repeat(63) + "XYZ";
    const m = checkResponse({ commandField: 0x8001, messageIdBeingRespondedTo: 2, status: 0xa900, errorComment: long });
    expect(m.get(0x0902)!.toString("latin1")).toBe("E".repeat(63) + "X");
    const m63 = checkResponse({ commandField: 0x8001, messageIdBeingRespondedTo: 2, status: 0xa900, errorComment: "e".repeat(63) });
    expect(m63.get(0x0902)!.toString("latin1")).toBe("e".repeat(63) + " ");
  });

  it("omits the optional elements it was not given", () => {
    const m = checkResponse({ commandField: 0x8020, messageIdBeingRespondedTo: 0xffff, status: 0x0211 });
    expect([...m.keys()]).toEqual([0x0000, 0x0100, 0x0120, 0x0800, 0x0900]);
    expect(encodeResponse({ commandField: 0x8020, messageIdBeingRespondedTo: 0xffff, status: 0x0211 })).toHaveLength(12 + 4 * 10);
  });

  it("reads back through parseCommand as a response without a data set", () => {
    const c = parseCommand(encodeResponse({ commandField: 0x8001, messageIdBeingRespondedTo: 5, status: 0, sopClassUid: CT_STORAGE, sopInstanceUid: "1.2.3" }));
    expect(c).toMatchObject({ commandField: 0x8001, sopClassUid: CT_STORAGE, sopInstanceUid: "1.2.3", hasDataset: false });
  });

  it("is read by dcmjs as an Implicit VR Little Endian data set with the dictionary's VRs", () => {
    const buf = encodeResponse({
      commandField: 0x8001,
      messageIdBeingRespondedTo: 7,
      status: 0xa700,
      sopClassUid: CT_STORAGE,
      sopInstanceUid: "1.2.826.0.1.3680043.2.1125.1.123",
      errorComment: "x".repeat(70),
    });
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
    const dict = DicomMessage._read(new ReadBufferStream(ab, true), IMPLICIT_VR_LE, { ignoreErrors: false });
    const value = (tag: string) => dict[tag]?.Value?.[0];
    expect(Object.keys(dict).sort()).toEqual(["00000000", "00000002", "00000100", "00000120", "00000800", "00000900", "00000902", "00001000"]);
    expect(dict["00000000"].vr).toBe("UL");
    expect(value("00000000")).toBe(buf.length - 12);
    expect(dict["00000002"].vr).toBe("UI");
    expect(value("00000002")).toBe(CT_STORAGE);
    expect(value("00000100")).toBe(0x8001);
    expect(value("00000120")).toBe(7);
    expect(value("00000800")).toBe(0x0101);
    expect(value("00000900")).toBe(0xa700);
    expect(dict["00000902"].vr).toBe("LO");
    expect(value("00000902")).toBe("x".repeat(64));
    expect(value("00001000")).toBe("1.2.826.0.1.3680043.2.1125.1.123");
  });
});

describe("encodeCommandPData and responseCommandField", () => {
  it("wraps a command in one P-DATA-TF PDU: one command PDV, last fragment", () => {
    const cmd = encodeResponse({ commandField: 0x8030, messageIdBeingRespondedTo: 9, status: 0, sopClassUid: VERIFICATION });
    const p = encodeCommandPData(11, cmd);
    expect(p.length).toBe(12 + cmd.length);
    expect(p[0]).toBe(0x04);
    expect(p[1]).toBe(0);
    expect(p.readUInt32BE(2)).toBe(6 + cmd.length); // PDU length
    expect(p.readUInt32BE(6)).toBe(2 + cmd.length); // PDV item length
    expect(p[10]).toBe(11); // presentation context ID
    expect(p[11]).toBe(0x03); // command, last
    expect(p.subarray(12).equals(cmd)).toBe(true);
    // and the framer reads it back as exactly that
    expect(feed([p])).toEqual([
      { ev: "pdata", length: 6 + cmd.length },
      { ev: "pdv", pcId: 11, isCommand: true, isLast: true, length: cmd.length },
      { ev: "data", hex: cmd.toString("hex") },
      { ev: "end" },
    ]);
  });

  it("maps a request command field to its response (PS3.7: | 0x8000)", () => {
    expect(responseCommandField(COMMAND_FIELD.CStoreRq)).toBe(COMMAND_FIELD.CStoreRsp);
    expect(responseCommandField(COMMAND_FIELD.CEchoRq)).toBe(COMMAND_FIELD.CEchoRsp);
    expect(responseCommandField(0x0020)).toBe(0x8020); // C-FIND
    expect(responseCommandField(0x0130)).toBe(0x8130); // N-ACTION
    expect(responseCommandField(0x8001)).toBe(0x8001);
  });
});

describe("the SCU's C-STORE requests and responses (lib/dicom-net/pdata)", () => {
  it("encodes a C-STORE-RQ the SCP's parser reads back", () => {
    const cmd = parseCommand(encodeStoreRequest({ messageId: 7, sopClassUid: "1.2.840.10008.5.1.4.1.1.4", sopInstanceUid: "1.2.3.45" }));
    expect(cmd).toEqual({ commandField: 0x0001, messageId: 7, sopClassUid: "1.2.840.10008.5.1.4.1.1.4", sopInstanceUid: "1.2.3.45", hasDataset: true });
  });
  it("reads a C-STORE-RSP's status, message id and error comment", () => {
    const rsp = encodeResponse({ commandField: 0x8001, messageIdBeingRespondedTo: 7, status: 0xa700, sopClassUid: "1.2.3", sopInstanceUid: "1.2.3.4", errorComment: "disk full" });
    expect(parseResponseCommand(rsp)).toEqual({ commandField: 0x8001, messageIdBeingRespondedTo: 7, status: 0xa700, errorComment: "disk full" });
  });
  it("splits a data set into P-DATA-TF PDUs no longer than the peer's maximum, the last fragment flagged", () => {
    const value = Buffer.from(Array.from({ length: 40_000 }, (_, i) => i % 251));
    const parts = pdataChunks(3, value, false, 16_384);
    const pdus: Buffer[] = [];
    for (let i = 0; i < parts.length; i += 2) pdus.push(Buffer.concat([parts[i]!, parts[i + 1]!]));
    expect(pdus).toHaveLength(3);
    for (const [i, p] of pdus.entries()) {
      expect(p[0]).toBe(0x04);
      expect(p.readUInt32BE(2) + 6).toBe(p.length);
      expect(p.readUInt32BE(2)).toBeLessThanOrEqual(16_384);
      expect(p[10]).toBe(3);
      expect(p[11]).toBe(i === pdus.length - 1 ? 0x02 : 0x00);
    }
    expect(Buffer.concat(pdus.map((p) => p.subarray(12)))).toEqual(value);
    expect(pdataChunks(1, Buffer.from([1, 2]), true, 0).map((b) => b.length)).toEqual([12, 2]);
  });
});
