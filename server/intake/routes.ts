// The association policy as the receiver asks it: the AE route of a called AE title.
import type { PrismaClient } from "@/server/db/generated/client";
import { decideAssociation, normalizeAe, type AssociationDecision } from "@/lib/intake/ae";

export async function decideCStoreAssociation(
  prisma: PrismaClient,
  callingAe: string,
  calledAe: string,
  remoteAddress: string | null,
): Promise<AssociationDecision> {
  const route = await prisma.aeRoute.findUnique({ where: { aeTitle: normalizeAe(calledAe) } });
  return decideAssociation(route, callingAe, remoteAddress);
}
