// Shared fixtures of the XNAT client tests: the test server, a client with fast retries, and real
// DICOM samples from /work/shared/dicom-samples (read in place, never copied into the repo).
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { XnatClient, type DicomZipEntry, type XnatClientOptions } from "@/lib/xnat";
import { startXnatTestServer, type TestUser, type XnatTestServer, type XnatTestServerOptions } from "./server";

export { SAMPLES_DIR as SAMPLES } from "@/lib/samples";
import { SAMPLES_DIR as SAMPLES } from "@/lib/samples";

/** One MR series of 6 instances (one study). */
export const MR_STUDY = [
  "dwv__bbmri-53323131.dcm",
  "dwv__bbmri-53323275.dcm",
  "dwv__bbmri-53323419.dcm",
  "dwv__bbmri-53323563.dcm",
  "dwv__bbmri-53323707.dcm",
  "dwv__bbmri-53323851.dcm",
];
/** One CT series of 2 instances (another study). */
export const CT_STUDY = ["dwv__osirix-toutatix-100.dcm", "dwv__osirix-toutatix-101.dcm"];
/** A single CT instance (a third study). */
export const CT_SINGLE = ["highdicom__ct_image.dcm"];

export function entries(names: string[]): Array<DicomZipEntry & { path: string; size: number }> {
  return names.map((n) => {
    const p = path.join(SAMPLES, n);
    return { path: p, size: statSync(p).size };
  });
}

export function totalBytes(names: string[]): number {
  return names.reduce((n, f) => n + statSync(path.join(SAMPLES, f)).size, 0);
}

export const ADMIN = { login: "admin", password: "admin-pw-Zq9", admin: true };
export const ALICE = { login: "alice", password: "alice-secret-77", email: "alice@example.org" };
export const BOB = { login: "bob", password: "bob-secret-88" };
export const CAROL = { login: "carol", password: "carol-secret-99" };

/** Server with users admin, alice (owner of P1, member of P2), bob (collaborator on P1), carol (no roles). */
export async function startServer(opts: XnatTestServerOptions = {}): Promise<XnatTestServer> {
  const server = await startXnatTestServer({ users: [ADMIN, ALICE, BOB, CAROL], ...opts });
  server.addProject("P1", { owners: ["alice"], collaborators: ["bob"] });
  server.addProject("P2", { members: ["alice"], owners: ["admin"] });
  server.addProject("PUB", { owners: ["admin"], accessibility: "public" });
  return server;
}

export const fastRetry = { retries: 3, baseDelayMs: 5, maxDelayMs: 40 };

export function connect(server: XnatTestServer, user: TestUser = ALICE, options: XnatClientOptions = {}): Promise<XnatClient> {
  return XnatClient.connect({ url: server.url, username: user.login, password: user.password, retry: fastRetry, heartbeat: false, timeoutMs: 5_000, ...options });
}

/** Writes copies of sample files with some attributes changed by dcmjs (e.g. a second series). */
export async function rewriteSamples(
  names: string[],
  change: (ds: Record<string, unknown>, index: number) => void,
  /** Raw elements to set (e.g. retired ones dcmjs cannot name), tag → {vr, Value}. */
  raw: Record<string, { vr: string; Value: unknown[] }> = {},
): Promise<Array<DicomZipEntry & { path: string; size: number }>> {
  const spec = "dcmjs";
  const mod = (await import(spec)) as { default?: unknown };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const dcmjs: any = mod.default ?? mod;
  const dir = mkdtempSync(path.join(tmpdir(), "atrium-xnat-"));
  return names.map((n, i) => {
    const buf = readFileSync(path.join(SAMPLES, n));
    const msg = dcmjs.data.DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(msg.dict);
    change(ds, i);
    msg.dict = { ...dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds), ...raw };
    const out = Buffer.from(msg.write());
    const p = path.join(dir, `${i}.dcm`);
    writeFileSync(p, out);
    return { path: p, size: out.length };
  });
}
