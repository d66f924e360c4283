// Seeded mutations of the shared samples for the fuzz test and the fuzz benchmark.
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One mutated copy: bit flips, truncation, or a corrupted length field near an element header. */
export function mutate(input: Buffer, r: () => number): { buf: Buffer; kind: string } {
  const buf = Buffer.from(input);
  const kind = ["flip", "truncate", "length", "flip-header", "length-undefined"][Math.floor(r() * 5)];
  const headerEnd = Math.min(buf.length, 4096);
  switch (kind) {
    case "flip":
      for (let i = 0, n = 1 + Math.floor(r() * 8); i < n; i++) buf[Math.floor(r() * buf.length)] ^= 1 << Math.floor(r() * 8);
      return { buf, kind };
    case "flip-header":
      for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) buf[Math.floor(r() * headerEnd)] ^= 1 << Math.floor(r() * 8);
      return { buf, kind };
    case "truncate":
      return { buf: buf.subarray(0, Math.floor(r() * buf.length)), kind };
    case "length":
    case "length-undefined": {
      // Find a plausible element header (explicit VR letters) and overwrite its length.
      for (let tries = 0; tries < 50; tries++) {
        const o = 132 + Math.floor(r() * Math.max(1, headerEnd - 140));
        if (o + 12 > buf.length) break;
        if (buf[o + 4] >= 0x41 && buf[o + 4] <= 0x5a && buf[o + 5] >= 0x41 && buf[o + 5] <= 0x5a) {
          if (kind === "length-undefined") buf.writeUInt32LE(0xffffffff, o + 8);
          else buf.writeUInt16LE(Math.floor(r() * 0xffff), o + 6);
          return { buf, kind };
        }
      }
      buf.writeUInt32LE(Math.floor(r() * 0xffffffff), Math.floor(r() * Math.max(1, headerEnd - 4)));
      return { buf, kind };
    }
  }
  return { buf, kind };
}
