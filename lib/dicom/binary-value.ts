// Binary values as people read them: US/SS/UL/SL/UV/SV/FL/FD as numbers (several values joined by
// "\" as DICOM writes multi-valued strings), AT as tags; other binary VRs (OB, OW, UN, …) by size.
const WIDTH: Record<string, number> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, UV: 8, SV: 8, AT: 4 };
const MAX_VALUES = 16;

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}

export function binaryValue(vr: string, b: Buffer, littleEndian = true): string {
  const w = WIDTH[vr];
  if (!w || b.length % w !== 0) return `(${b.length} bytes)`;
  if (b.length === 0) return "";
  const n = b.length / w;
  const out: string[] = [];
  for (let i = 0; i < Math.min(n, MAX_VALUES); i++) {
    const o = i * w;
    const v =
      vr === "US" ? (littleEndian ? b.readUInt16LE(o) : b.readUInt16BE(o))
      : vr === "SS" ? (littleEndian ? b.readInt16LE(o) : b.readInt16BE(o))
      : vr === "UL" ? (littleEndian ? b.readUInt32LE(o) : b.readUInt32BE(o))
      : vr === "SL" ? (littleEndian ? b.readInt32LE(o) : b.readInt32BE(o))
      : vr === "FL" ? Number((littleEndian ? b.readFloatLE(o) : b.readFloatBE(o)).toPrecision(7))
      : vr === "FD" ? (littleEndian ? b.readDoubleLE(o) : b.readDoubleBE(o))
      : vr === "UV" ? (littleEndian ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o))
      : vr === "SV" ? (littleEndian ? b.readBigInt64LE(o) : b.readBigInt64BE(o))
      : null;
    if (vr === "AT") {
      const g = littleEndian ? b.readUInt16LE(o) : b.readUInt16BE(o);
      const e = littleEndian ? b.readUInt16LE(o + 2) : b.readUInt16BE(o + 2);
      out.push(`(${hex4(g)},${hex4(e)})`);
    } else out.push(String(v));
  }
  return n > MAX_VALUES ? `${out.join("\\")}\\… (${n} values)` : out.join("\\");
}
