// The XNAT archive driver: sends a study through XNAT's import service (DICOM-zip, project,
// subject and session always given, prevent_anon=true) straight into the archive, merging into the
// experiment when it exists (overwrite=append: files already there are kept, not doubled), then
// verifies per series the SOP instances (entries are named <SOP Instance UID>.dcm, which XNAT keeps) and counts from the listings; sizes are advisory (XNAT rewrites files). Framework-free: credentials come in
// already opened; nothing here logs.
import { XnatClient, XnatError, type XnatClientOptions, type XnatCredentials } from "@/lib/xnat";
import { expectedCounts, isCompressedSyntax, type ArchiveDriver, type ArchiveProgress, type ArchiveStudy, type ArchiveVerification } from "./driver";

export interface XnatArchiveTarget {
  /** XNAT root URL, e.g. https://xnat.example.org */
  url: string;
  /** The project id on that XNAT. */
  project: string;
  credentials: XnatCredentials;
}

export interface XnatDriverOptions {
  client?: XnatClientOptions;
  /** Deflate level of the zip (0 = stored, default). */
  compressionLevel?: number;
}

/** Alias tokens are UUID-shaped (as xnatpy decides); anything else is a user name. */
export function credentialsFor(user: string, secret: string): XnatCredentials {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(user) ? { alias: user, secret } : { username: user, password: secret };
}

function who(c: XnatCredentials): string {
  return "alias" in c ? "the alias token" : `user ${c.username}`;
}

export class XnatArchiveDriver implements ArchiveDriver {
  readonly kind = "xnat" as const;
  private readonly base: string;
  private session: Promise<XnatClient> | null = null;

  constructor(
    private readonly target: XnatArchiveTarget,
    private readonly options: XnatDriverOptions = {},
  ) {
    this.base = target.url.replace(/\/+$/, "");
  }

  /** One XNAT session for send and verify of an attempt (closed by close()). */
  private connect(): Promise<XnatClient> {
    this.session ??= this.login().catch((err: unknown) => {
      this.session = null;
      throw err;
    });
    return this.session;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s) await (await s.catch(() => null))?.close().catch(() => undefined);
  }

  private async login(): Promise<XnatClient> {
    try {
      return await XnatClient.connect({ url: this.base, ...this.target.credentials, heartbeat: false, ...this.options.client });
    } catch (err) {
      if (err instanceof XnatError && err.kind === "auth") {
        throw new Error(`XNAT at ${this.base} refused the login of ${who(this.target.credentials)}. Enter a valid user and password (or a new alias token: they expire) in the project's Archive settings.`);
      }
      if (err instanceof XnatError && (err.kind === "network" || err.kind === "timeout")) {
        throw new Error(`XNAT at ${this.base} could not be reached (${err.kind}). Check the URL in the Archive settings and that the XNAT is up; the study is retried automatically.`);
      }
      if (err instanceof XnatError && err.kind === "refused") throw new Error(`${err.hint} (XNAT at ${this.base}; change the URL in the Archive settings.)`);
      throw err;
    }
  }

  async send(study: ArchiveStudy, onProgress?: (p: ArchiveProgress) => void): Promise<{ location: string }> {
    const xnat = await this.connect();
    try {
      const totalBytes = expectedCounts(study).bytes;
      let zipBytes = 0;
      const result = await xnat.importDicomZip({
        project: this.target.project,
        subject: study.subjectLabel,
        session: study.experimentLabel,
        // Named by SOP Instance UID: XNAT keeps entry names, so a merge never puts a different
        // instance under an existing name, and verification can compare instances by identity.
        files: study.instances.map((i) => ({ path: i.path, size: i.sizeBytes, name: `${i.sopInstanceUid}.dcm` })),
        // Merge: a re-archive (new instances, or a retry after a partial upload) completes the
        // experiment; files XNAT already holds are kept, never doubled.
        overwrite: "append",
        destination: "archive",
        compressionLevel: this.options.compressionLevel ?? 0,
        onProgress: (n) => {
          zipBytes = n;
          onProgress?.({ phase: "sending", doneBytes: Math.min(totalBytes, zipBytes), totalBytes });
        },
      });
      const e = result.experiment!;
      onProgress?.({ phase: "sending", doneBytes: totalBytes, totalBytes });
      // XNAT answers with accession ids (XNAT_E…); /data/experiments/{id} is the experiment's stable address.
      return { location: `${this.base}/data/experiments/${encodeURIComponent(e.experiment)}` };
    } catch (err) {
      if (err instanceof XnatError && err.kind === "forbidden") {
        throw new Error(`${err.publicMessage} Make ${who(this.target.credentials)} a Member or Owner of project ${this.target.project} on that XNAT.`);
      }
      throw err;
    }
  }

  async verify(study: ArchiveStudy): Promise<ArchiveVerification> {
    const expected = expectedCounts(study);
    const perSeries = new Map<string, { uid: string; files: number; bytes: number; sopInstanceUids: string[]; compressed?: boolean }>();
    for (const i of study.instances) {
      const s = perSeries.get(i.seriesInstanceUid) ?? { uid: i.seriesInstanceUid, files: 0, bytes: 0, sopInstanceUids: [] };
      s.files++;
      s.bytes += i.sizeBytes;
      s.sopInstanceUids.push(i.sopInstanceUid);
      // Known syntaxes only: a series counts as compressed when any of its files was sent compressed.
      if (i.transferSyntaxUid !== undefined) s.compressed = (s.compressed ?? false) || isCompressedSyntax(i.transferSyntaxUid);
      perSeries.set(i.seriesInstanceUid, s);
    }
    const xnat = await this.connect();
    try {
      const report = await xnat.verifyExperiment(
        { project: this.target.project, experiment: study.experimentLabel },
        { files: expected.files, bytes: expected.bytes, scans: [...perSeries.values()], mode: "exact" },
      );
      const found = { scans: report.scans.filter((s) => s.files > 0).length, files: report.files, bytes: report.bytes };
      if (found.scans !== expected.scans && report.problems.length === 0) {
        report.problems.push(`scans: XNAT has ${found.scans} with DICOM files, expected ${expected.scans}`);
      }
      const ok = report.problems.length === 0;
      return {
        ok,
        expected,
        found,
        // Verified though sizes differ: say on what (the instances) and why sizes do not count.
        note: ok && report.notes.length
          ? `Verified by SOP Instance UID: ${expected.files === 1 ? "the 1 instance" : `all ${expected.files} instances`} (${expected.scans} series) ${expected.files === 1 ? "is" : "are"} on XNAT; ${report.notes.join("; ")}.`
          : undefined,
        detail: ok ? undefined : `Experiment ${study.experimentLabel} in XNAT project ${this.target.project} differs from what was sent: ${report.problems.join("; ")}.`,
      };
    } catch (err) {
      await this.close();
      throw err;
    }
  }
}

export interface ConnectionReport {
  ok: boolean;
  /** XNAT version (buildInfo). */
  version?: string;
  /** The login XNAT sees. */
  login?: string;
  /** This account's role in the project there, or null. */
  role?: "owner" | "member" | "collaborator" | null;
  /** What is wrong and what to do (when not ok), or a warning. */
  message: string;
}

/** An error for the owner: never anything the server sent (XnatError.publicMessage). */
function safeMessage(err: unknown): string {
  if (err instanceof XnatError) return err.publicMessage;
  return err instanceof Error ? err.message : "The connection test failed.";
}

/** Connects, reads the version, the login and the account's role in the project: the "Test connection" button. */
export async function testXnatConnection(target: XnatArchiveTarget, options: XnatClientOptions = {}): Promise<ConnectionReport> {
  const base = target.url.replace(/\/+$/, "");
  let xnat: XnatClient;
  try {
    xnat = await XnatClient.connect({ url: base, ...target.credentials, heartbeat: false, retry: { retries: 1, baseDelayMs: 200, maxDelayMs: 500 }, timeoutMs: 15_000, ...options });
  } catch (err) {
    if (err instanceof XnatError && err.kind === "auth") return { ok: false, message: `XNAT refused the login of ${who(target.credentials)}: check the user and password, or issue a new alias token (they expire).` };
    if (err instanceof XnatError && (err.kind === "network" || err.kind === "timeout")) return { ok: false, message: `Nothing answered at ${base} (${err.kind}): check the URL (scheme, host, port) and that this server can reach it.` };
    if (err instanceof XnatError && err.kind === "not-found") return { ok: false, message: `${base} answered, but not like an XNAT (no /data/JSESSION): give XNAT's root URL, e.g. https://xnat.example.org.` };
    if (err instanceof XnatError && err.kind === "refused") return { ok: false, message: err.hint };
    return { ok: false, message: safeMessage(err) };
  }
  try {
    // What the server says is shown only when it looks like a version and a login (never free text).
    const [rawInfo, rawLogin] = [await xnat.buildInfo(), await xnat.whoami()];
    const info = { version: /^[\w.+-]{1,40}$/.test(rawInfo.version) ? rawInfo.version : "(unknown version)" };
    const login = /^[\w.@+-]{1,100}$/.test(rawLogin) ? rawLogin : "(an unnamed account)";
    const role = await xnat.myRole(target.project);
    if (!role) {
      const visible = await xnat.getProject(target.project);
      return {
        ok: false,
        version: info.version,
        login,
        role: null,
        message: visible
          ? `${login} has no role in project ${target.project} on this XNAT: ask its owner to make ${login} a Member (XNAT would otherwise silently put uploads elsewhere).`
          : `Project ${target.project} does not exist on this XNAT or ${login} cannot see it: check the project id (not its name) and ask for Member rights.`,
      };
    }
    if (role === "collaborator") {
      return { ok: false, version: info.version, login, role, message: `${login} is only a Collaborator (read-only) in ${target.project}: ask its owner to make ${login} a Member so studies can be archived there.` };
    }
    return { ok: true, version: info.version, login, role, message: `Connected to XNAT ${info.version} as ${login}, ${role} of ${target.project}: studies can be archived there.` };
  } catch (err) {
    return { ok: false, message: safeMessage(err) };
  } finally {
    await xnat.close().catch(() => undefined);
  }
}
