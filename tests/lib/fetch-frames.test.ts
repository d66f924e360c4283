// components/viewer/fetch-frame: frames fetched in order at a pace that can rise as they go, native
// grayscale ones decoded where they are fetched, the others handed on as their bytes, and a frame
// that cannot be had this way reported as null (the viewer's loader then asks itself). Against a
// real HTTP server on localhost that answers as Atrium's DICOMweb does for one frame.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchFrames, frameBuffer, type FetchedFrame, type FrameToFetch } from "@/components/viewer/fetch-frame";
import type { NativeFrameSpec } from "@/lib/viewer/native-frame";

let server: http.Server;
let base = "";
let inFlight = 0;
let mostAtOnce = 0;
const releases: (() => void)[] = [];
/** While set, answers wait until released one by one (to see how many are asked for at once). */
let hold = false;

const spec: NativeFrameSpec = { rows: 2, columns: 2, bitsAllocated: 16, bitsStored: 12, pixelRepresentation: 0, photometricInterpretation: "MONOCHROME2", rescale: { slope: 1, intercept: -1024 }, modality: "CT" };
const frameBytes = (n: number) => Buffer.from(new Uint16Array([n, n + 1, n + 2, 4095]).buffer);

beforeAll(async () => {
  server = http.createServer(async (req, res) => {
    inFlight++;
    mostAtOnce = Math.max(mostAtOnce, inFlight);
    if (hold) await new Promise<void>((r) => releases.push(r));
    inFlight--;
    const m = /\/frames\/(\d+)(-(\w+))?$/.exec(req.url ?? "");
    const n = Number(m?.[1] ?? 0);
    if (m?.[3] === "missing") return res.writeHead(404, { "content-type": "application/json" }).end('{"error":"no such frame"}');
    if (m?.[3] === "multipart") return res.writeHead(200, { "content-type": 'multipart/related; type="application/octet-stream"; boundary=x' }).end("--x--");
    const syntax = m?.[3] === "jpeg" ? "1.2.840.10008.1.2.4.50" : "1.2.840.10008.1.2.1";
    res.writeHead(200, { "content-type": `application/octet-stream; transfer-syntax=${syntax}` }).end(frameBytes(n));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function until(cond: () => boolean) {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe("fetchFrames", () => {
  it("decodes native frames with a spec, hands on the others' bytes, and reports what it cannot have as null", async () => {
    const frames: FrameToFetch[] = [
      { url: `${base}/frames/100`, spec },
      { url: `${base}/frames/7`, spec: null },
      { url: `${base}/frames/3-jpeg`, spec },
      { url: `${base}/frames/4-missing`, spec },
      { url: `${base}/frames/5-multipart`, spec: null },
    ];
    const got = new Map<string, FetchedFrame | null>();
    await fetchFrames(frames, "application/octet-stream; transfer-syntax=*", { lanes: 2, priority: "auto" }, new AbortController().signal, (url, f) => got.set(url, f)).done;
    const decoded = got.get(frames[0]!.url)!;
    expect(decoded.decoded && Array.from(decoded.decoded.pixelData)).toEqual([-924, -923, -922, 3071]);
    expect(frameBuffer(decoded)).toBe(decoded.decoded!.pixelData.buffer);
    // No spec: the stored bytes as they came, for the loader.
    expect(Buffer.from(got.get(frames[1]!.url)!.pixelData!).equals(frameBytes(7))).toBe(true);
    // A compressed frame is not decoded here: its bytes go to the loader with their transfer syntax.
    const jpeg = got.get(frames[2]!.url)!;
    expect(jpeg.transferSyntaxUid).toBe("1.2.840.10008.1.2.4.50");
    expect(jpeg.decoded).toBeUndefined();
    expect(Buffer.from(jpeg.pixelData!).equals(frameBytes(3))).toBe(true);
    expect(got.get(frames[3]!.url)).toBeNull();
    expect(got.get(frames[4]!.url)).toBeNull();
  });

  it("asks for as many at once as the pace allows, in order, and more once it is raised", async () => {
    hold = true;
    mostAtOnce = 0;
    const frames = Array.from({ length: 12 }, (_, i) => ({ url: `${base}/frames/${i + 1}`, spec }));
    const order: string[] = [];
    const run = fetchFrames(frames, "*/*", { lanes: 2, priority: "low" }, new AbortController().signal, (url) => order.push(url));
    await until(() => releases.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(inFlight).toBe(2); // no third while two are out
    releases.splice(0).forEach((r) => r());
    await until(() => releases.length === 2);
    run.faster({ lanes: 5, priority: "auto" });
    await until(() => releases.length === 5);
    hold = false;
    releases.splice(0).forEach((r) => r());
    await run.done;
    expect(mostAtOnce).toBe(5);
    expect(order).toHaveLength(12);
    // Asked for in display order: each lane takes the next one, so the first two come back first.
    expect(order.slice(0, 2).sort()).toEqual(frames.slice(0, 2).map((f) => f.url).sort());
  });

  it("stops asking when aborted", async () => {
    hold = true;
    const abort = new AbortController();
    const frames = Array.from({ length: 6 }, (_, i) => ({ url: `${base}/frames/${i + 1}`, spec }));
    const seen: string[] = [];
    const run = fetchFrames(frames, "*/*", { lanes: 1, priority: "auto" }, abort.signal, (url) => seen.push(url));
    await until(() => releases.length === 1);
    abort.abort();
    hold = false;
    releases.splice(0).forEach((r) => r());
    await run.done;
    expect(seen).toEqual([]);
  });
});
