// The webhook route's core in-process (real PostgreSQL and Redis): a delivery is committed before
// the 202 and its pull queued; refusals record nothing; pending deliveries are re-queued at start.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People } from "../helpers/fixtures";
import { acceptWebhook } from "@/server/webhooks/accept";
import { requeuePendingDeliveries } from "@/server/webhooks/queue";
import { signWebhook } from "@/lib/webhooks/signature";
import { getQueue } from "@/server/queues";
import { deriveKey, seal } from "@/lib/crypto/secret-box";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let source: { id: string; secret: string };
const body = '{"study":"0a1b2c3d-0a1b2c3d-0a1b2c3d-0a1b2c3d-0a1b2c3d"}';
const req = (headers: Record<string, string>, b: string = body) => new Request("http://atrium.test/api/webhooks/x", { method: "POST", headers, body: b });

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  await createProjectFixture(db.prisma, people, "WH_IN", "private");
  const r = await callerFor(db.prisma, people.sessions.owner).webhook.create({ projectId: "WH_IN", name: "PACS", nodeKind: "orthanc", nodeUrl: "http://127.0.0.1:9" });
  source = { id: r.id, secret: r.secret };
  await getQueue("webhook-pull").obliterate({ force: true });
});
afterAll(async () => {
  await emptyQueuesAndDisconnect(["webhook-pull"]);
  await db?.drop();
});

describe("accepting a webhook", () => {
  it("commits the delivery, then queues its pull under the delivery's id", async () => {
    const a = await acceptWebhook(db.prisma, source.id, req(signWebhook(source.secret, body)));
    expect(a.status).toBe(202);
    const deliveryId = (a.body as { deliveryId: string }).deliveryId;
    const d = await db.prisma.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId } });
    expect(d).toMatchObject({ sourceId: source.id, status: "accepted", body: JSON.parse(body) });
    const job = await getQueue("webhook-pull").getJob(deliveryId);
    expect(job?.data).toEqual({ deliveryId });
    expect((await db.prisma.webhookSource.findUniqueOrThrow({ where: { id: source.id } })).lastDeliveryAt).not.toBeNull();
  });

  it("checks the source before reading the body, the size before the signature, the signature before the body", async () => {
    const before = await db.prisma.webhookDelivery.count();
    const big = "x".repeat(20_000);
    expect((await acceptWebhook(db.prisma, "wh_unknown", req({}, big))).status).toBe(404);
    expect((await acceptWebhook(db.prisma, "../../etc", req({}))).status).toBe(404);
    expect((await acceptWebhook(db.prisma, source.id, req({}, big))).status).toBe(413);
    expect((await acceptWebhook(db.prisma, source.id, req({}, "not json"))).status).toBe(401);
    expect((await acceptWebhook(db.prisma, source.id, req(signWebhook(source.secret, "not json"), "not json"))).status).toBe(400);
    expect(await db.prisma.webhookDelivery.count()).toBe(before);
  });

  it("refuses the same signed request twice, even at once", async () => {
    const headers = signWebhook(source.secret, body, Math.floor(Date.now() / 1000) - 5);
    const answers = await Promise.all([1, 2, 3].map(() => acceptWebhook(db.prisma, source.id, req(headers))));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409]);
  });

  it("says so when the stored secret cannot be read (the server key changed), recording nothing", async () => {
    const other = await db.prisma.webhookSource.create({
      data: { id: "wh_oldkey", projectId: "WH_IN", name: "Old", nodeKind: "orthanc", nodeUrl: "http://127.0.0.1:9", secretSealed: seal("s", deriveKey("a-different-server-key-0123"), "atrium:WebhookSource:wh_oldkey:secretSealed") },
    });
    const before = await db.prisma.webhookDelivery.count();
    const a = await acceptWebhook(db.prisma, other.id, req(signWebhook("s", body)));
    expect(a).toMatchObject({ status: 500, body: { error: expect.stringMatching(/ATRIUM_SECRET_KEY changed\). A project owner must rotate the secret/) } });
    expect(await db.prisma.webhookDelivery.count()).toBe(before);
  });

  it("re-queues accepted and pulling deliveries at worker start, not finished ones", async () => {
    await getQueue("webhook-pull").obliterate({ force: true });
    const pending = await db.prisma.webhookDelivery.findMany({ select: { id: true } });
    await db.prisma.webhookDelivery.update({ where: { id: pending[0]!.id }, data: { status: "pulling" } });
    await db.prisma.webhookDelivery.update({ where: { id: pending[1]!.id }, data: { status: "done" } });
    expect(await requeuePendingDeliveries(db.prisma)).toBe(pending.length - 1);
    expect(await getQueue("webhook-pull").getJob(pending[1]!.id)).toBeUndefined();
    expect(await getQueue("webhook-pull").getJob(pending[0]!.id)).toBeDefined();
  });
});
