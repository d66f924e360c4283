// Downloading a zip from the portal's download route in the browser, with progress.
// The response is read with a stream reader; every 32 MB of chunks becomes a Blob, so the page holds
// little in its own memory (Chromium keeps large blobs in its blob store, on disk when needed), and
// the finished Blob is saved through an object URL. Very large single scans or experiments go
// straight to the browser's own download manager instead (it streams to disk and shows progress).

export interface DownloadProgress {
  received: number;
  /** From Content-Length; 0 when unknown. */
  total: number;
}

export class DownloadError extends Error {}

const FLUSH_BYTES = 32 * 1024 * 1024;

/** Fetches `url` (GET, or POST with a JSON body), reports progress, and saves the zip. Rejects with the server's message. */
export async function downloadZip(
  url: string,
  opts: { body?: unknown; signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void },
): Promise<{ fileName: string; bytes: number }> {
  const res = await fetch(url, {
    method: opts.body === undefined ? "GET" : "POST",
    credentials: "same-origin",
    signal: opts.signal,
    ...(opts.body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(opts.body) }),
  });
  if (!res.ok) {
    const j = (await res.json().catch(() => null)) as { error?: string } | null;
    throw new DownloadError(j?.error ?? `The download failed (HTTP ${res.status}). Try again; if it keeps failing, tell your administrator.`);
  }
  const total = Number(res.headers.get("content-length") ?? 0) || 0;
  const fileName = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? "download.zip";
  const reader = res.body!.getReader();
  const parts: Blob[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let received = 0;
  opts.onProgress?.({ received, total });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending.push(value);
    pendingBytes += value.length;
    received += value.length;
    if (pendingBytes >= FLUSH_BYTES) {
      parts.push(new Blob(pending as BlobPart[]));
      pending = [];
      pendingBytes = 0;
    }
    opts.onProgress?.({ received, total });
  }
  if (total && received !== total) throw new DownloadError(`The download stopped after ${received} of ${total} bytes. Try again.`);
  parts.push(new Blob(pending as BlobPart[]));
  saveBlob(new Blob(parts, { type: "application/zip" }), fileName);
  return { fileName, bytes: received };
}

export function saveBlob(blob: Blob, fileName: string): void {
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = fileName;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/** Hands a GET download to the browser's download manager (for very large zips). */
export function nativeDownload(url: string): void {
  const a = document.createElement("a");
  a.href = url;
  a.download = "";
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
}
