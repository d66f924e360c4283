// `atrium start` answers GET/HEAD /dicomweb/projects/{projectId}/studies/… itself, with the same
// function as the Next.js route (server/dicomweb/study-resource: access check, read, audit), ahead
// of Next.js's request handling. A viewer asks for one frame per request, hundreds per series:
// measured on a 2-core VM, Next.js's own handling cost ~5 ms of CPU per request (10 ms per frame in
// all), and it writes a response's headers and body in separate socket writes. Here a response
// whose body is one chunk (a frame, a rendered image, an error) leaves with its headers in one
// write; streamed bodies (metadata, multipart) go out in writes of at least 64 KB; JSON is
// gzipped when the client accepts it, as Next.js would have.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { parseAccept } from "@/lib/dicomweb/accept";
import { childLog } from "@/lib/log";
import { getStudyResource } from "./study-resource";

const log = childLog("dicomweb");
const STUDY_RESOURCE = /^\/dicomweb\/projects\/([^/?#]+)\/studies\/([^?#]*)/;
const WRITE_AT_LEAST = 64 * 1024;
/** JSON bodies smaller than this are not worth compressing. */
const GZIP_FROM = 1024;

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Takes the request (returns true) when it is a GET or HEAD of a study resource; else leaves it to Next.js. */
export function dicomwebNodeHandler(): NodeHandler {
  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const m = STUDY_RESOURCE.exec(req.url ?? "");
    if (!m) return false;
    let request: Request;
    let projectId: string;
    let path: string[];
    try {
      projectId = decodeURIComponent(m[1]!);
      path = m[2]!.split("/").map(decodeURIComponent);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
      request = new Request(new URL(req.url!, `http://${req.headers.host ?? "localhost"}`), { method: req.method, headers });
    } catch {
      // A malformed escape or Host: Next.js answers it as it answers any bad request.
      return false;
    }
    void getStudyResource(request, projectId, path)
      .then((response) => send(response, req, res))
      .catch((e: unknown) => {
        log.error({ error: (e as Error).name }, "a DICOMweb request failed");
        if (res.headersSent) res.destroy();
        else res.writeHead(500, { "content-type": "application/json", "cache-control": "no-store" }).end('{"error":"Internal error while answering this DICOMweb request; try again, and tell an administrator if it persists."}');
      });
    return true;
  };
}

async function send(response: Response, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.setHeader(name, value));
  const body = response.body;
  if (!body) {
    res.end();
    return;
  }
  if (req.method === "HEAD") {
    // The GET's headers, its length included: the body is made and counted (HEAD is rare here).
    if (!response.headers.has("content-length")) res.setHeader("content-length", String((await response.arrayBuffer()).byteLength));
    else await body.cancel().catch(() => undefined);
    res.end();
    return;
  }
  const type = response.headers.get("content-type") ?? "";
  const length = Number(response.headers.get("content-length") ?? Infinity);
  const gzip = /[/+]json\b/.test(type) && length >= GZIP_FROM && parseAccept(String(req.headers["accept-encoding"] ?? "")).some((e) => e.type === "gzip");
  let out: Writable = res;
  if (gzip) {
    res.removeHeader("content-length");
    res.setHeader("content-encoding", "gzip");
    res.setHeader("vary", [res.getHeader("vary"), "Accept-Encoding"].filter(Boolean).join(", "));
    const z = createGzip({ level: 4 });
    z.on("error", () => res.destroy());
    z.pipe(res);
    out = z;
  }
  const reader = body.getReader();
  let gone = false;
  // A client that goes away cancels the body (its files are closed), as Next.js does.
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    void reader.cancel().catch(() => undefined);
  };
  res.on("close", onClose);
  try {
    let held: Uint8Array[] = [];
    let heldBytes = 0;
    const take = () => {
      const chunk = held.length === 1 ? held[0]! : Buffer.concat(held);
      held = [];
      heldBytes = 0;
      return chunk;
    };
    for (;;) {
      const { done, value } = await reader.read();
      if (gone) return;
      if (done) break;
      // What is held goes out when more follows: the last piece leaves with end() (a one-piece body
      // with its headers, in one write, with its Content-Length).
      if (heldBytes >= WRITE_AT_LEAST && !out.write(take())) await drained(out, res);
      held.push(value);
      heldBytes += value.length;
    }
    if (heldBytes) out.end(take());
    else out.end();
  } catch (e) {
    // The body failed part-way (e.g. a stored file could not be read): the client sees a cut answer.
    log.error({ error: (e as Error).name }, "a DICOMweb answer stopped part-way");
    res.destroy();
  } finally {
    res.off("close", onClose);
  }
}

function drained(out: Writable, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      res.off("close", done);
      resolve();
    };
    out.once("drain", done);
    res.once("close", done);
  });
}
