// DICOM RLE Lossless (PS3.5 Annex G): decode a frame into its byte segments, and encode segments
// back into a frame. A frame is a 64-byte header (number of segments, then 15 offsets, little
// endian) followed by the segments; each segment is one byte plane of one sample (for 16 bits: the
// most significant byte first), rows × columns bytes, PackBits-compressed (G.3.1).

export class RleError extends Error {}

/** The frame's segments, each decoded to exactly `planeSize` bytes. */
export function decodeRleFrame(frame: Buffer, planeSize: number, expectedSegments: number): Buffer[] {
  if (frame.length < 64) throw new RleError("RLE frame shorter than its 64-byte header");
  const n = frame.readUInt32LE(0);
  if (n !== expectedSegments || n < 1 || n > 15) throw new RleError(`RLE frame has ${n} segments, expected ${expectedSegments}`);
  const offsets: number[] = [];
  for (let i = 0; i < n; i++) offsets.push(frame.readUInt32LE(4 + 4 * i));
  const planes: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const start = offsets[i];
    const end = i + 1 < n ? offsets[i + 1] : frame.length;
    if (start < 64 || end > frame.length || end < start) throw new RleError("RLE segment offsets are out of range");
    planes.push(unpackBits(frame, start, end, planeSize));
  }
  return planes;
}

function unpackBits(src: Buffer, start: number, end: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let o = 0;
  let i = start;
  while (o < size && i < end) {
    const h = src[i++];
    if (h < 128) {
      const n = h + 1;
      if (i + n > end || o + n > size) throw new RleError("RLE literal run overflows its segment");
      src.copy(out, o, i, i + n);
      i += n;
      o += n;
    } else if (h > 128) {
      const n = 257 - h;
      if (i >= end || o + n > size) throw new RleError("RLE replicate run overflows its segment");
      out.fill(src[i++], o, o + n);
      o += n;
    }
    // 128 (-128): no operation
  }
  if (o < size) throw new RleError("RLE segment decodes to fewer bytes than rows × columns");
  return out;
}

/** PackBits of one byte plane, each row encoded separately (runs never cross a row). */
export function packBits(plane: Buffer, rows: number, cols: number): Buffer {
  const out = Buffer.allocUnsafe(rows * (cols + Math.ceil(cols / 128) + 2) + 2);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    const end = (r + 1) * cols;
    let i = r * cols;
    while (i < end) {
      let j = i + 1;
      while (j < end && j - i < 128 && plane[j] === plane[i]) j++;
      if (j - i >= 2) {
        out[o++] = 257 - (j - i);
        out[o++] = plane[i];
        i = j;
        continue;
      }
      // A literal run, up to 128 bytes, stopping before a run of 3 equal bytes.
      let k = i;
      while (k < end && k - i < 128) {
        if (k + 2 < end && plane[k] === plane[k + 1] && plane[k] === plane[k + 2]) break;
        k++;
      }
      out[o++] = k - i - 1;
      plane.copy(out, o, i, k);
      o += k - i;
      i = k;
    }
  }
  return out.subarray(0, o);
}

/** An RLE frame from its byte planes (segments padded to an even length). */
export function encodeRleFrame(planes: Buffer[], rows: number, cols: number): Buffer {
  const segs = planes.map((p) => packBits(p, rows, cols));
  const header = Buffer.alloc(64);
  header.writeUInt32LE(segs.length, 0);
  let off = 64;
  const parts: Buffer[] = [header];
  segs.forEach((s, i) => {
    header.writeUInt32LE(off, 4 + 4 * i);
    parts.push(s);
    off += s.length;
    if (s.length % 2) {
      parts.push(Buffer.from([0x80])); // a no-op byte keeps the segment even
      off++;
    }
  });
  return Buffer.concat(parts);
}
