// The webhook body (one schema, shared by the HTTP route that accepts it and the worker that pulls
// what it names) and the inputs of the owners' webhook-source procedures.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { ownerUrlSchema } from "@/lib/outbound/url";

export const WEBHOOK_NODE_KINDS = ["orthanc", "dicomweb"] as const;
export type WebhookNodeKind = (typeof WEBHOOK_NODE_KINDS)[number];

/** Largest webhook body accepted (it only names a study). */
export const MAX_WEBHOOK_BODY_BYTES = 16 * 1024;

const orthancId = z
  .string()
  .regex(/^[0-9a-f]{8}(-[0-9a-f]{8}){4}$/, { error: "study must be an Orthanc study id (five groups of 8 hex digits, as OnStableStudy receives it)." });
const dicomUid = z
  .string()
  .max(64, { error: "studyInstanceUid is at most 64 characters." })
  .regex(/^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/, { error: "studyInstanceUid must be a DICOM UID (digits and dots)." });

/** {"study": "<Orthanc study id>"} for an Orthanc node, {"studyInstanceUid": "<UID>"} for a DICOMweb node. */
export const webhookBody = z
  .object({ study: orthancId.optional(), studyInstanceUid: dicomUid.optional() })
  .strict()
  .refine((b) => (b.study === undefined) !== (b.studyInstanceUid === undefined), {
    error: 'Name exactly one study: {"study": "<Orthanc study id>"} or {"studyInstanceUid": "<Study Instance UID>"}.',
  });
export type WebhookBody = z.infer<typeof webhookBody>;

/** The study a body names on a node of `kind`, or why the body does not fit that kind. */
export function studyRef(kind: WebhookNodeKind, body: WebhookBody): { ok: true; id: string } | { ok: false; message: string } {
  if (kind === "orthanc") {
    return body.study ? { ok: true, id: body.study } : { ok: false, message: 'This source pulls from Orthanc: send {"study": "<Orthanc study id>"}.' };
  }
  return body.studyInstanceUid
    ? { ok: true, id: body.studyInstanceUid }
    : { ok: false, message: 'This source pulls by DICOMweb: send {"studyInstanceUid": "<Study Instance UID>"}.' };
}

// Saved as origin + path: no credentials, query or fragment (a URL ending in "?" or "#" would
// otherwise choose the path), no literal address the outbound policy refuses (lib/outbound/url.ts).
const nodeUrl = ownerUrlSchema({
  invalid: "Enter the node's http(s) URL, e.g. http://orthanc:8042 or https://pacs/dicom-web.",
  credentials: "Put no user or password in the URL: use the credential fields.",
});

export const webhookSourceRef = z.object({ projectId: projectIdSchema, sourceId: z.string().min(1).max(64) });

export const createWebhookSourceInput = z
  .object({
    projectId: projectIdSchema,
    name: z.string().trim().min(1, { error: "Give the source a name, e.g. the scanner or PACS." }).max(100),
    nodeKind: z.enum(WEBHOOK_NODE_KINDS),
    nodeUrl,
    nodeAuth: z.enum(["none", "basic", "bearer"]).default("none"),
    nodeUser: z.string().max(200).optional(),
    nodeSecret: z.string().max(2000).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.nodeAuth === "basic" && !v.nodeUser) ctx.addIssue({ code: "custom", path: ["nodeUser"], message: "Enter the node's user name." });
    if (v.nodeAuth !== "none" && !v.nodeSecret) ctx.addIssue({ code: "custom", path: ["nodeSecret"], message: v.nodeAuth === "basic" ? "Enter the node's password." : "Enter the bearer token." });
  });

export const setWebhookSourceEnabledInput = webhookSourceRef.extend({ enabled: z.boolean() });
