// Text values of a dataset decoded by its Specific Character Set (0008,0005). Single-byte sets and
// UTF-8/GB18030/GBK are decoded; ISO 2022 code extensions fall back to their first (default or
// single-byte) repertoire, which is what de-identified values use in practice.
const DECODERS: Record<string, string> = {
  "": "latin1",
  ISO_IR_6: "latin1",
  ISO_IR_100: "latin1",
  ISO_IR_101: "iso-8859-2",
  ISO_IR_109: "iso-8859-3",
  ISO_IR_110: "iso-8859-4",
  ISO_IR_144: "iso-8859-5",
  ISO_IR_127: "iso-8859-6",
  ISO_IR_126: "iso-8859-7",
  ISO_IR_138: "iso-8859-8",
  ISO_IR_148: "iso-8859-9",
  ISO_IR_203: "iso-8859-15",
  ISO_IR_166: "windows-874",
  ISO_IR_13: "shift_jis",
  ISO_IR_192: "utf-8",
  GB18030: "gb18030",
  GBK: "gbk",
};

const cache = new Map<string, TextDecoder | null>();

function decoderFor(term: string): TextDecoder | null {
  const key = term.trim().toUpperCase().replace(/^ISO 2022 /, "").replace(/[ -]/g, "_");
  if (cache.has(key)) return cache.get(key)!;
  const label = DECODERS[key];
  let d: TextDecoder | null = null;
  if (label && label !== "latin1") {
    try {
      d = new TextDecoder(label);
    } catch {
      d = null;
    }
  }
  cache.set(key, d);
  return d;
}

/** Decodes a text value (LO, PN, SH, ST, LT, UT, UC) by the dataset's Specific Character Set value. */
export function decodeText(bytes: Buffer, specificCharacterSet: string | undefined): string {
  const first = (specificCharacterSet ?? "").split("\\")[0] ?? "";
  const d = decoderFor(first);
  return d ? d.decode(bytes) : bytes.toString("latin1");
}
