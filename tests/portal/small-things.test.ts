// #21 §8, the pure parts: binary header values as numbers, and when the Intake page says that
// de-identification waits for senders.
import { describe, expect, it } from "vitest";
import { binaryValue } from "@/lib/dicom/binary-value";
import { deidWaitingForSenders } from "@/lib/intake/live";

describe("binaryValue", () => {
  it("shows US/SS/UL/SL/FL/FD as numbers (multi-valued joined by \\), AT as tags, other VRs by size", () => {
    const us = Buffer.alloc(4);
    us.writeUInt16LE(512, 0);
    us.writeUInt16LE(16, 2);
    expect(binaryValue("US", us)).toBe("512\\16");
    expect(binaryValue("US", Buffer.from([0x02, 0x00]), false)).toBe("512");
    const ss = Buffer.alloc(2);
    ss.writeInt16LE(-1024);
    expect(binaryValue("SS", ss)).toBe("-1024");
    const ul = Buffer.alloc(4);
    ul.writeUInt32LE(4_000_000_000);
    expect(binaryValue("UL", ul)).toBe("4000000000");
    const fl = Buffer.alloc(4);
    fl.writeFloatLE(0.7);
    expect(binaryValue("FL", fl)).toBe("0.7");
    const fd = Buffer.alloc(8);
    fd.writeDoubleLE(1.25);
    expect(binaryValue("FD", fd)).toBe("1.25");
    expect(binaryValue("AT", Buffer.from([0x28, 0x00, 0x10, 0x00]))).toBe("(0028,0010)");
    expect(binaryValue("OB", Buffer.alloc(10))).toBe("(10 bytes)");
    expect(binaryValue("US", Buffer.alloc(3))).toBe("(3 bytes)");
    expect(binaryValue("US", Buffer.alloc(40))).toMatch(/^0(\\0){15}\\… \(20 values\)$/);
  });
});

describe("deidWaitingForSenders", () => {
  const live = (batches: number) => ({ activeBatches: batches ? [{ batches }] : [] });
  it("only while a sender sends and instances wait for de-identification", () => {
    expect(deidWaitingForSenders({ instances: { received: 120 }, live: live(2) })).toEqual({ waiting: 120, senders: 2 });
    expect(deidWaitingForSenders({ instances: { received: 0 }, live: live(2) })).toBeNull();
    expect(deidWaitingForSenders({ instances: { received: 120 }, live: live(0) })).toBeNull();
  });
});
