// The order a stack shows a series in, framework-free and dependency-free: the viewer (lib/viewer
// viewer re-exports it), the server's DICOMweb (a series' first image and pixel data in display
// order) and the viewer's frame fetcher worker (which must stay small to start fast) share it.

export interface InstanceGeometry {
  sopInstanceUid: string;
  instanceNumber?: number | null;
  position?: number[] | null; // ImagePositionPatient
  orientation?: number[] | null; // ImageOrientationPatient
  frames: number;
}

/**
 * The order a stack shows a series in: along the slice normal when every instance has a position
 * and they share one orientation (as a volume needs them), otherwise by instance number, then UID.
 * Returns whether the series can be reformatted as a volume (≥ 3 single-frame parallel slices).
 */
export function orderInstances<T extends InstanceGeometry>(items: T[]): { ordered: T[]; volumeCapable: boolean } {
  const byNumber = [...items].sort((a, b) => (a.instanceNumber ?? Infinity) - (b.instanceNumber ?? Infinity) || a.sopInstanceUid.localeCompare(b.sopInstanceUid));
  const first = items[0]?.orientation;
  const geometric = items.length > 0 && first?.length === 6 && items.every((i) => i.position?.length === 3 && i.orientation?.length === 6 && i.orientation.every((v, k) => Math.abs(v - first[k]!) < 1e-3));
  if (!geometric) return { ordered: byNumber, volumeCapable: false };
  const [r0, r1, r2, c0, c1, c2] = first as [number, number, number, number, number, number];
  const normal = [r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0];
  const dist = (i: T) => i.position![0]! * normal[0]! + i.position![1]! * normal[1]! + i.position![2]! * normal[2]!;
  const ordered = [...items].sort((a, b) => dist(a) - dist(b) || (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0));
  const distinct = new Set(ordered.map((i) => dist(i).toFixed(3))).size === ordered.length;
  return { ordered, volumeCapable: distinct && ordered.length >= 3 && ordered.every((i) => i.frames === 1) };
}
