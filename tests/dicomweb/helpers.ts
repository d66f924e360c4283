// STOW-RS test helpers: the DICOMweb route handlers served over real HTTP, multipart bodies, and
// the shared samples with their UIDs.
import { readFileSync } from "node:fs";
import path from "node:path";
import { SAMPLES_DIR } from "@/lib/samples";
import { readPart10Info } from "@/lib/dicom-net/part10";
import { parseDicom, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { startRouteServer } from "../helpers/route-server";

export async function startDicomwebServer() {
  const studies = await import("@/app/dicomweb/studies/route");
  const study = await import("@/app/dicomweb/studies/[study]/route");
  const project = await import("@/app/dicomweb/projects/[projectId]/studies/route");
  return startRouteServer([
    { method: "POST", pattern: /^\/dicomweb\/studies\/?$/, handler: (req) => studies.POST(req) },
    { method: "POST", pattern: /^\/dicomweb\/studies\/(?<study>[^/]+)\/?$/, handler: (req, ctx) => study.POST(req, ctx as { params: Promise<{ study: string }> }) },
    {
      method: "POST",
      pattern: /^\/dicomweb\/projects\/(?<projectId>[^/]+)\/studies\/?$/,
      handler: (req, ctx) => project.POST(req, ctx as { params: Promise<{ projectId: string }> }),
    },
  ]);
}

export interface Sample {
  file: string;
  bytes: Buffer;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
}

export async function sample(name: string): Promise<Sample> {
  const file = path.join(SAMPLES_DIR, name);
  const bytes = readFileSync(file);
  const info = await readPart10Info(file);
  const study = stringValue(parseDicom(new BufferSource(bytes)).dataset, 0x0020000d)!;
  return { file, bytes, sopClassUid: info.sopClassUid!, sopInstanceUid: info.sopInstanceUid!, studyInstanceUid: study };
}

export const BOUNDARY = "atrium-test-7f3a9c";

export type Part = Buffer | { headers: string[]; body: Buffer };

/** A multipart/related body; `close: false` leaves out the close delimiter. */
export function multipart(parts: Part[], opts: { close?: boolean; boundary?: string } = {}): Buffer {
  const b = opts.boundary ?? BOUNDARY;
  const out: Buffer[] = [Buffer.from("preamble, ignored\r\n")];
  for (const p of parts) {
    const { headers, body } = Buffer.isBuffer(p) ? { headers: ["Content-Type: application/dicom"], body: p } : p;
    out.push(Buffer.from(`--${b}\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n`), body, Buffer.from("\r\n"));
  }
  if (opts.close !== false) out.push(Buffer.from(`--${b}--\r\n`));
  return Buffer.concat(out);
}

export const STOW_CONTENT_TYPE = `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`;

export type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

export function sequence(body: DicomJson, tag: string): DicomJson[] {
  return (body[tag]?.Value ?? []) as DicomJson[];
}

export function uidsOf(items: DicomJson[]): string[] {
  return items.map((i) => (i["00081155"]?.Value?.[0] as string) ?? "").sort();
}
