// POST /api/webhooks/{sourceId}: a signed "this study is ready" from a scanner, PACS or Orthanc.
// Checks, in order: the source exists and is enabled (404), the body's size (413), the signature
// and its timestamp (401), the body (400), replay (409). The delivery is committed before the
// 202 answer; the pull is queued after (a lost job is re-queued from the database at worker start).
import type { PrismaClient } from "@/server/db/generated/client";
import { Prisma } from "@/server/db/generated/client";
import { childLog } from "@/lib/log";
import { openSecret } from "@/server/secrets";
import { SecretBoxError } from "@/lib/crypto/secret-box";
import { verifyWebhookSignature } from "@/lib/webhooks/signature";
import { MAX_WEBHOOK_BODY_BYTES, studyRef, webhookBody } from "@/lib/webhooks/schema";
import { queueWebhookPull } from "./queue";

const log = childLog("webhooks");

export interface WebhookAnswer {
  status: 202 | 400 | 401 | 404 | 409 | 413 | 500;
  body: { error: string } | { accepted: true; deliveryId: string };
}

const refuse = (status: WebhookAnswer["status"], error: string): WebhookAnswer => ({ status, body: { error } });

export class BodyTooLargeError extends Error {}

/** Reads a request body, refusing more than `limit` bytes (whatever Content-Length claims). */
export async function readLimitedBody(req: Request, limit = MAX_WEBHOOK_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError();
  if (!req.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLargeError();
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

export async function acceptWebhook(prisma: PrismaClient, sourceId: string, req: Request, nowSeconds = Math.floor(Date.now() / 1000)): Promise<WebhookAnswer> {
  const source = /^[A-Za-z0-9_-]{1,64}$/.test(sourceId)
    ? await prisma.webhookSource.findUnique({ where: { id: sourceId }, select: { id: true, enabled: true, secretSealed: true, nodeKind: true } })
    : null;
  if (!source || !source.enabled) {
    log.info({ sourceId: source?.id ?? null, outcome: source ? "disabled" : "unknown" }, "webhook refused");
    return refuse(404, source ? "This webhook source is disabled. A project owner can enable it in the project's Intake tab." : "No webhook source has this URL. Copy the URL from the project's Intake tab.");
  }
  let raw: Buffer;
  try {
    raw = await readLimitedBody(req);
  } catch (e) {
    if (e instanceof BodyTooLargeError) return refuse(413, `The body is larger than ${MAX_WEBHOOK_BODY_BYTES / 1024} KB. A webhook only names a study, e.g. {"study": "<id>"}.`);
    throw e;
  }
  let secret: string;
  try {
    secret = openSecret(source.secretSealed, { table: "WebhookSource", id: source.id, field: "secretSealed" });
  } catch (e) {
    if (!(e instanceof SecretBoxError)) throw e;
    log.error({ sourceId: source.id }, "webhook secret cannot be decrypted");
    return refuse(500, "This server cannot read the source's secret (its ATRIUM_SECRET_KEY changed). A project owner must rotate the secret and update the sender.");
  }
  const check = verifyWebhookSignature(
    secret,
    { timestamp: req.headers.get("x-atrium-timestamp"), signature: req.headers.get("x-atrium-signature") },
    raw,
    nowSeconds,
  );
  if (!check.ok) {
    log.info({ sourceId: source.id, outcome: "bad-signature" }, "webhook refused");
    return refuse(401, check.message);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    return refuse(400, 'The body is not JSON. Send e.g. {"study": "<Orthanc study id>"} with Content-Type: application/json.');
  }
  const parsed = webhookBody.safeParse(json);
  if (!parsed.success) return refuse(400, parsed.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; "));
  const ref = studyRef(source.nodeKind, parsed.data);
  if (!ref.ok) return refuse(400, ref.message);

  let deliveryId: string;
  try {
    deliveryId = await prisma.$transaction(async (tx) => {
      const d = await tx.webhookDelivery.create({
        data: { sourceId: source.id, signature: check.signature, signedAt: new Date(check.timestamp * 1000), body: parsed.data as Prisma.InputJsonValue },
        select: { id: true },
      });
      await tx.webhookSource.update({ where: { id: source.id }, data: { lastDeliveryAt: new Date() } });
      return d.id;
    });
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") {
      log.info({ sourceId: source.id, outcome: "replay" }, "webhook refused");
      return refuse(409, "This signed request was already accepted (a replay). Sign each new webhook with the current time.");
    }
    throw e;
  }
  log.info({ sourceId: source.id, deliveryId, outcome: "accepted" }, "webhook accepted");
  await queueWebhookPull(deliveryId).catch((e: Error) => log.warn({ deliveryId, error: e.name }, "could not queue the pull; it is re-queued at the next worker start"));
  return { status: 202, body: { accepted: true, deliveryId } };
}
