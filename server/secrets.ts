// The process's key for secrets at rest: ATRIUM_SECRET_KEY, else derived from NEXTAUTH_SECRET
// (which `atrium start` generates once into the data directory). Portal and workers must share it.
// Every sealed value is bound to its place (table, row id, column): a sealed value copied into
// another row (another project's archive target, another webhook source) does not open there.
import type { PrismaClient } from "@/server/db/generated/client";
import { readEnv } from "@/lib/config";
import { childLog } from "@/lib/log";
import { deriveKey, isLegacySealed, open, seal } from "@/lib/crypto/secret-box";

const log = childLog("secrets");

let cached: { source: string; key: Buffer } | null = null;

function key(): Buffer {
  const env = readEnv();
  const source = env.ATRIUM_SECRET_KEY ?? env.NEXTAUTH_SECRET;
  if (!source) throw new Error("No key for stored secrets: set ATRIUM_SECRET_KEY (or NEXTAUTH_SECRET) in the environment of the portal and the workers.");
  if (cached?.source !== source) cached = { source, key: deriveKey(source) };
  return cached.key;
}

/** Where a sealed value is stored; it is sealed for exactly this place. */
export type SecretSlot =
  | { table: "WebhookSource"; id: string; field: "secretSealed" | "nodeSecretSealed" }
  | { table: "ProjectArchiveTarget"; id: string; field: "xnatSecretSealed" }
  | { table: "ForwardDestination"; id: string; field: "secretSealed" }
  | { table: "DeidProject"; id: string; field: "patientKeySecretSealed" };

const aadOf = (slot: SecretSlot) => `atrium:${slot.table}:${slot.id}:${slot.field}`;

export const sealSecret = (plaintext: string, slot: SecretSlot) => seal(plaintext, key(), aadOf(slot));
export const openSecret = (sealed: string, slot: SecretSlot) => open(sealed, key(), aadOf(slot));

/** The pseudonym store's sealer: a project's patient-key secret, bound to its DeidProject row. */
export const patientKeySecrets = {
  seal: (plaintext: string, projectId: string) => sealSecret(plaintext, { table: "DeidProject", id: projectId, field: "patientKeySecretSealed" }),
  open: (sealed: string, projectId: string) => openSecret(sealed, { table: "DeidProject", id: projectId, field: "patientKeySecretSealed" }),
};

/**
 * The migration path for values sealed before they were bound to their row ("v1"): each one that
 * opens with the current key is sealed again for its row. Runs when the portal or a worker starts
 * (after the database migrations); idempotent; a value that does not open is left for its owner to
 * enter again (it does not open in use either). Returns how many values were re-sealed.
 */
export async function resealLegacySecrets(prisma: PrismaClient): Promise<number> {
  let resealed = 0;
  const again = (sealed: string, slot: SecretSlot): string | null => {
    try {
      return sealSecret(open(sealed, key(), aadOf(slot)), slot);
    } catch {
      log.warn({ table: slot.table, id: slot.id, field: slot.field }, "a legacy sealed secret does not open with the current key; left as it is");
      return null;
    }
  };
  const sources = await prisma.webhookSource.findMany({
    where: { OR: [{ secretSealed: { startsWith: "v1." } }, { nodeSecretSealed: { startsWith: "v1." } }] },
    select: { id: true, secretSealed: true, nodeSecretSealed: true },
  });
  for (const s of sources) {
    const data: { secretSealed?: string; nodeSecretSealed?: string } = {};
    if (isLegacySealed(s.secretSealed)) data.secretSealed = again(s.secretSealed, { table: "WebhookSource", id: s.id, field: "secretSealed" }) ?? undefined;
    if (s.nodeSecretSealed && isLegacySealed(s.nodeSecretSealed)) data.nodeSecretSealed = again(s.nodeSecretSealed, { table: "WebhookSource", id: s.id, field: "nodeSecretSealed" }) ?? undefined;
    const n = Object.values(data).filter(Boolean).length;
    if (!n) continue;
    // Only if the row still holds what was read (a concurrent rotation wins).
    const r = await prisma.webhookSource.updateMany({ where: { id: s.id, secretSealed: s.secretSealed, nodeSecretSealed: s.nodeSecretSealed }, data });
    resealed += r.count ? n : 0;
  }
  const targets = await prisma.projectArchiveTarget.findMany({ where: { xnatSecretSealed: { startsWith: "v1." } }, select: { projectId: true, xnatSecretSealed: true } });
  for (const t of targets) {
    const sealed = again(t.xnatSecretSealed!, { table: "ProjectArchiveTarget", id: t.projectId, field: "xnatSecretSealed" });
    if (!sealed) continue;
    const r = await prisma.projectArchiveTarget.updateMany({ where: { projectId: t.projectId, xnatSecretSealed: t.xnatSecretSealed }, data: { xnatSecretSealed: sealed } });
    resealed += r.count;
  }
  if (resealed) log.info({ resealed }, "legacy sealed secrets bound to their rows");
  return resealed;
}
