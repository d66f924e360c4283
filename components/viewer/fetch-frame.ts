// One frame's stored bytes from Atrium's DICOMweb, answered as a single part with its transfer
// syntax (PS3.18 allows it for one frame), for the frame fetcher worker and the page alike. Null
// when it cannot be had this way: the viewer's loader then asks itself and reports what is wrong.
export interface FetchedFrame {
  pixelData: Uint8Array;
  transferSyntaxUid: string;
}

export async function fetchFrame(url: string, accept: string, signal: AbortSignal): Promise<FetchedFrame | null> {
  try {
    const r = await fetch(url, { headers: { accept }, credentials: "same-origin", signal });
    const type = r.headers.get("content-type") ?? "";
    const syntax = /transfer-syntax=([0-9.]+)/.exec(type)?.[1];
    if (!r.ok || !syntax || type.startsWith("multipart/")) {
      await r.body?.cancel();
      return null;
    }
    return { pixelData: new Uint8Array(await r.arrayBuffer()), transferSyntaxUid: syntax };
  } catch {
    return null;
  }
}
