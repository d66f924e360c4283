// Keeps the XNAT test server honest with a client nobody here wrote: pyxnat (Debian
// python3-pyxnat, installed by npm test) logs in, creates subject/experiment/scan/resource, uploads
// and downloads a file byte for byte, lists, imports a DICOM zip and acts on the prearchive
// (tests/xnat/pyxnat-checks.py), reads labels and attributes through listings with columns=, the
// experiments array, element documents as XML, resets and deletes prearchive sessions with form
// bodies, downloads a resource as a zip, and uses subject- and project-level resources. Every check
// must pass (24 of 24; it was 18 of these 24 before the double answered XML, honoured columns= and
// form bodies, zipped resources and held subject and project resources).
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dicomZipStream } from "@/lib/xnat/zip";
import type { XnatTestServer } from "./server";
import { ALICE, CT_STUDY, entries, startServer } from "./helpers";

let server: XnatTestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

it("pyxnat drives the XNAT test server: hierarchy, byte-exact file round trip, listings with columns=, XML documents, DICOM-zip import, prearchive with form bodies, resource zips, subject and project resources", async () => {
  const zip = path.join(mkdtempSync(path.join(tmpdir(), "atrium-pyxnat-")), "ct.zip");
  writeFileSync(zip, Buffer.from(await new Response(dicomZipStream(entries(CT_STUDY))).arrayBuffer()));
  const out = await new Promise<string>((resolve) => {
    const c = spawn("/usr/bin/python3", [path.join(import.meta.dirname, "pyxnat-checks.py"), server.url, ALICE.login, ALICE.password, zip]);
    let o = "";
    c.stdout.on("data", (d) => (o += d));
    c.stderr.on("data", (d) => (o += d));
    c.on("close", () => resolve(o));
  });
  const m = /checks (\d+)\/(\d+)/.exec(out);
  expect(m, out.slice(-2000)).not.toBeNull();
  const failed = out.split("\n").filter((l) => l.startsWith("FAIL "));
  expect(failed, out.slice(-3000)).toEqual([]);
  for (const name of [
    "login (JSESSION)",
    "upload file",
    "download file byte for byte",
    "list files",
    "labels and IDs through listings with columns=",
    "experiments array (columns= honoured, xsiType base type, project filter)",
    "element documents with format=xml",
    "import a DICOM zip into the prearchive",
    "prearchive list, build, delete",
    "prearchive reset and delete with parameters in a form body (pyxnat manage.prearchive)",
    "zip download of a resource (Resource.get)",
    "subject-level resource: create, upload, download",
    "project-level resource: create, upload, download",
  ]) {
    expect(out, out.slice(-3000)).toContain(`PASS ${name}`);
  }
  expect(Number(m![1])).toBe(Number(m![2]));
  expect(Number(m![2])).toBeGreaterThanOrEqual(24);
}, 60_000);
