import { parseArgs } from "node:util";
import type { FileOutcome } from "@/lib/dicom-net/scu";

export const summary = "Send DICOM files or folders to a C-STORE SCP (Atrium, a PACS, DCMTK storescp).";

const USAGE = `Usage: atrium send PATH... --to HOST:PORT --aet CALLED_AET [options]

Sends every DICOM file under PATH (files or folders, recursively) with C-STORE, unchanged, each in its
own transfer syntax (an uncompressed file is re-encoded to Explicit VR Little Endian only when the
peer refuses its syntax). Non-DICOM files and DICOMDIRs are skipped with a reason.

Options:
  --to HOST:PORT        the SCP to send to (required)
  --aet AET             called AE title (required)
  --calling AET         calling AE title (default ATRIUM)
  --associations N      parallel associations (default 1)
  --timeout SECONDS     abort when the peer is silent this long (default 600)
  --json                print the summary as JSON instead of text
  -q, --quiet           print only failures and the summary

Exit code: 0 when every DICOM file was stored (success or warning), 1 when any failed, 2 on usage errors.`;

function hex(status: number | undefined): string {
  return status === undefined ? "------" : `0x${status.toString(16).toUpperCase().padStart(4, "0")}`;
}

function line(o: FileOutcome): string {
  const tag = { sent: "OK  ", warning: "WARN", failed: "FAIL", skipped: "SKIP" }[o.outcome];
  const extra = [o.converted ? "re-encoded to Explicit VR LE" : "", o.reason ?? ""].filter(Boolean).join("; ");
  return `${tag} ${hex(o.status)} ${o.path}${extra ? `  (${extra})` : ""}`;
}

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        to: { type: "string" },
        aet: { type: "string" },
        calling: { type: "string", default: "ATRIUM" },
        associations: { type: "string", default: "1" },
        timeout: { type: "string", default: "600" },
        json: { type: "boolean", default: false },
        quiet: { type: "boolean", short: "q", default: false },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`atrium send: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const to = /^(.+):(\d{1,5})$/.exec(values.to ?? "");
  const associations = Number(values.associations);
  const timeout = Number(values.timeout);
  const aeOk = (ae: string | undefined) => !!ae && ae.trim().length > 0 && ae.length <= 16 && !ae.includes("\\");
  const problems: string[] = [];
  if (positionals.length === 0) problems.push("give at least one file or folder");
  if (!to || Number(to[2]) < 1 || Number(to[2]) > 65535) problems.push("--to HOST:PORT is required (port 1-65535)");
  if (!aeOk(values.aet)) problems.push("--aet is required (1-16 characters, no backslash)");
  if (!aeOk(values.calling)) problems.push("--calling must be 1-16 characters, no backslash");
  if (!Number.isInteger(associations) || associations < 1 || associations > 64) problems.push("--associations must be 1-64");
  if (!(timeout > 0)) problems.push("--timeout must be a positive number of seconds");
  if (problems.length > 0) {
    console.error(`atrium send: ${problems.join("; ")}\n\n${USAGE}`);
    return 2;
  }

  const host = to![1]!.replace(/^\[(.*)\]$/, "$1");
  const { sendDicom } = await import("@/lib/dicom-net/scu");
  let result;
  try {
    result = await sendDicom(positionals, {
      host,
      port: Number(to![2]),
      calledAe: values.aet!.trim(),
      callingAe: values.calling!.trim(),
      associations,
      timeoutMs: timeout * 1000,
      onFile: values.json ? undefined : (o) => {
        if (!values.quiet || o.outcome === "failed") console.log(line(o));
      },
    });
  } catch (err) {
    console.error(`atrium send: ${(err as NodeJS.ErrnoException).code ?? ""} ${(err as Error).message}`.trim());
    return 1;
  }
  const seconds = result.durationMs / 1000;
  const mb = result.bytesSent / 1e6;
  if (values.json) {
    console.log(JSON.stringify({ ...result, to: `${host}:${to![2]}`, calledAe: values.aet }, null, 2));
  } else {
    console.log(
      `\nsent ${result.sent}, warnings ${result.warnings}, failed ${result.failed}, skipped ${result.skipped} ` +
        `(${mb.toFixed(1)} MB in ${seconds.toFixed(2)} s, ${(result.sent + result.warnings) / Math.max(seconds, 0.001) | 0} inst/s, ` +
        `${result.associations} association${result.associations === 1 ? "" : "s"})`,
    );
  }
  return result.failed > 0 ? 1 : 0;
}
