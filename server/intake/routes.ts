// The association policy as the receiver asks it: the AE route of a called AE title.
// Asked per association and again per instance; the per-instance answer may be up to
// ROUTE_CACHE_MS old, so a route removed mid-association takes effect within that time.
import type { PrismaClient } from "@/server/db/generated/client";
import { decideAssociation, decideSiteCaller, normalizeAe, type AssociationDecision } from "@/lib/intake/ae";
import { siteAeTitle, siteCallerAllowList } from "@/lib/config";

/**
 * A C-STORE decision: a project's AE route, or the site-wide AE title (ATRIUM_AE_TITLE), bound to
 * no project (routing rules decide, server/intake/routing), which any caller may use unless the
 * site's caller allow-list (ATRIUM_SITE_CALLING_AETS / ATRIUM_SITE_CALLING_ADDRESSES) says otherwise.
 */
export type CStoreDecision = AssociationDecision | { accept: true; projectId: null; site: true };

function siteDecision(calledAe: string, callingAe: string, remoteAddress: string | null): CStoreDecision | null {
  if (normalizeAe(calledAe) !== siteAeTitle()) return null;
  const caller = decideSiteCaller(siteCallerAllowList(), callingAe, remoteAddress);
  return caller.accept ? { accept: true, projectId: null, site: true } : caller;
}

const ROUTE_CACHE_MS = 2_000;
type AeRouteRow = Awaited<ReturnType<PrismaClient["aeRoute"]["findUnique"]>>;
const cache = new Map<string, { at: number; route: AeRouteRow }>();

async function aeRoute(prisma: PrismaClient, calledAe: string, maxAgeMs: number): Promise<AeRouteRow> {
  const key = normalizeAe(calledAe);
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at <= maxAgeMs) return hit.route;
  const route = await prisma.aeRoute.findUnique({ where: { aeTitle: key } });
  cache.set(key, { at: Date.now(), route });
  if (cache.size > 1_000) cache.delete(cache.keys().next().value!);
  return route;
}

/** At association: always read fresh. */
export async function decideCStoreAssociation(
  prisma: PrismaClient,
  callingAe: string,
  calledAe: string,
  remoteAddress: string | null,
): Promise<CStoreDecision> {
  return siteDecision(calledAe, callingAe, remoteAddress) ?? decideAssociation(await aeRoute(prisma, calledAe, 0), callingAe, remoteAddress);
}

/** Per instance, within an accepted association: a recent answer will do. */
export async function decideCStoreInstance(
  prisma: PrismaClient,
  callingAe: string,
  calledAe: string,
  remoteAddress: string | null,
): Promise<CStoreDecision> {
  return siteDecision(calledAe, callingAe, remoteAddress) ?? decideAssociation(await aeRoute(prisma, calledAe, ROUTE_CACHE_MS), callingAe, remoteAddress);
}
