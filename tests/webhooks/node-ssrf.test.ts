// Issue #17 §3, the webhook node URL: Atrium connects only to addresses its policy allows
// (loopback refused here without ATRIUM_OUTBOUND_ALLOW, which vitest.config.ts sets for the rest
// of the suite), builds request URLs from the parsed base (a stored URL ending in ? or # cannot
// choose the path), reads list answers up to a cap, and saves node URLs without credentials,
// query or fragment.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { listStudyInstances, NodeError, type DicomNode } from "@/lib/webhooks/node";
import { createWebhookSourceInput } from "@/lib/webhooks/schema";

const STUDY = "6b9e19d9-62094390-5f9ddb01-4a191ae7-9766b715";
const INSTANCE = "0a9b3153-1d35b2d8-4a1e9c1c-7a1d7a2a-9f2c0d1e";
const allowed = process.env.ATRIUM_OUTBOUND_ALLOW;

let paths: string[] = [];
let mode: "ok" | "huge" = "ok";
let srv: http.Server;
let base: string;

beforeAll(async () => {
  srv = http.createServer((req, res) => {
    paths.push(req.url ?? "");
    if (mode === "huge") {
      // A list answer that never ends on its own: 96 MiB of one JSON array.
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.from(`{"ID":"${INSTANCE}"},`.repeat(16_384));
      let sent = 0;
      res.write("[");
      const more = () => {
        while (sent < 96 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
        if (sent >= 96 * 1024 * 1024) res.end(`{"ID":"${INSTANCE}"}]`);
        else res.once("drain", more);
      };
      res.on("close", () => res.removeAllListeners("drain"));
      more();
      return;
    }
    if (req.url === `/orthanc/studies/${STUDY}/instances`) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify([{ ID: INSTANCE }]));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"db_password":"hunter2"}');
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
});
afterEach(() => {
  if (allowed === undefined) delete process.env.ATRIUM_OUTBOUND_ALLOW;
  else process.env.ATRIUM_OUTBOUND_ALLOW = allowed;
  paths = [];
  mode = "ok";
});
afterAll(async () => {
  srv.closeAllConnections();
  await new Promise<void>((r) => srv.close(() => r()));
});

const node = (baseUrl: string): DicomNode => ({ kind: "orthanc", baseUrl, auth: { kind: "none" } });

describe("the webhook node's address", () => {
  it("lists a study on an allowed node (loopback is allowed for this test run)", async () => {
    expect(await listStudyInstances(node(`${base}/orthanc`), STUDY)).toEqual([{ remoteId: INSTANCE, path: `/instances/${INSTANCE}/file` }]);
    expect(paths).toEqual([`/orthanc/studies/${STUDY}/instances`]);
  });

  it("refuses loopback without the allow-list, before any request, with a sentence an owner can act on", async () => {
    process.env.ATRIUM_OUTBOUND_ALLOW = "";
    const port = new URL(base).port;
    for (const url of [`${base}/orthanc`, `http://localhost:${port}/orthanc`, `http://[::ffff:7f00:1]:${port}/orthanc`]) {
      const err = await listStudyInstances(node(url), STUDY).catch((e: unknown) => e);
      expect(err, url).toBeInstanceOf(NodeError);
      expect((err as NodeError).retryable).toBe(false);
      expect((err as NodeError).message).toMatch(/loopback.*ATRIUM_OUTBOUND_ALLOW/);
    }
    expect(paths).toEqual([]);
  });

  it("a malformed allow-list refuses every connection, naming the bad entry", async () => {
    process.env.ATRIUM_OUTBOUND_ALLOW = "127.0.0.0/8, 10.0.0.0/33";
    const err = await listStudyInstances(node(`${base}/orthanc`), STUDY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeError);
    expect((err as NodeError).message).toMatch(/ATRIUM_OUTBOUND_ALLOW: "10\.0\.0\.0\/33"/);
    expect(paths).toEqual([]);
  });

  it("a stored node URL ending in ? or # cannot choose the path: requests go below the URL's path", async () => {
    for (const stored of [`${base}/orthanc?`, `${base}/orthanc#`, `${base}/orthanc?x=1#y`]) {
      paths = [];
      expect(await listStudyInstances(node(stored), STUDY), stored).toHaveLength(1);
      expect(paths).toEqual([`/orthanc/studies/${STUDY}/instances`]);
    }
  });

  it("reads the node's list answer up to a cap", async () => {
    mode = "huge";
    const err = await listStudyInstances(node(`${base}/orthanc`), STUDY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeError);
    expect((err as NodeError).message).toMatch(/larger than/);
  });
});

describe("the saved node URL", () => {
  const input = (nodeUrl: string) => createWebhookSourceInput.safeParse({ projectId: "P1", name: "PACS", nodeKind: "orthanc", nodeUrl });
  it("refuses credentials, a query or a fragment (even an empty ? or #)", () => {
    for (const [url, why] of [
      ["https://pacs.example.org/orthanc?", /query/],
      ["https://pacs.example.org/orthanc#", /fragment/],
      ["https://pacs.example.org/?a=b", /query/],
      ["https://u:p@pacs.example.org", /user or password/],
    ] as const) {
      const r = input(url);
      expect(r.success, url).toBe(false);
      expect(r.error?.issues.map((i) => i.message).join(" "), url).toMatch(why);
    }
    const ok = input("https://pacs.example.org/dicom-web/");
    expect(ok.success && ok.data.nodeUrl).toBe("https://pacs.example.org/dicom-web");
  });

  it("refuses a literal address the policy forbids", () => {
    process.env.ATRIUM_OUTBOUND_ALLOW = "";
    for (const url of ["http://169.254.169.254/latest", "http://[::1]:8042", "http://192.168.1.10:8042", "http://100.100.100.200"]) {
      const r = input(url);
      expect(r.success, url).toBe(false);
      expect(r.error?.issues.map((i) => i.message).join(" "), url).toMatch(/ATRIUM_OUTBOUND_ALLOW/);
    }
  });
});
