// Audit of DICOMweb reads that return stored bytes (WADO-RS retrieve, metadata, frames, bulk data):
// one "dicomweb.retrieve" event per reader (user or token) and study per window
// (ATRIUM_READ_AUDIT_WINDOW_MIN, default 60), not one per frame or instance: a viewer asks for
// hundreds of frames of a study in seconds. The window is checked in the database (any process may
// have written the event) behind a per-process memo, so the hot path costs a map lookup.
import type { PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { readEnv } from "@/lib/config";

export interface StudyReader {
  userId: string | null;
  token: { tokenId: string; name: string } | null;
}

export const READ_AUDIT_ACTION = "dicomweb.retrieve";

/** key → when the window of its last audit event ends (ms since epoch) */
const audited = new Map<string, number>();
/** key → the audit being written, so concurrent requests write one event */
const pending = new Map<string, Promise<void>>();
const MEMO_LIMIT = 50_000;

function windowMs(): number {
  return readEnv().ATRIUM_READ_AUDIT_WINDOW_MIN * 60_000;
}

/**
 * Records that `reader` read stored bytes of `study` in `projectId` (what: the first kind of read
 * in the window, e.g. "frames"), unless an event for the same reader and study is younger than the window.
 */
export async function auditStudyRead(prisma: PrismaClient, projectId: string, reader: StudyReader, study: string, what: string): Promise<void> {
  const who = reader.token ? `t:${reader.token.tokenId}` : `u:${reader.userId ?? ""}`;
  const key = `${projectId}\u0000${who}\u0000${study}`;
  const now = Date.now();
  if ((audited.get(key) ?? 0) > now) return;
  const inflight = pending.get(key);
  if (inflight) return inflight;
  const p = (async () => {
    const span = windowMs();
    const since = new Date(now - span);
    const last = await prisma.auditEvent.findFirst({
      where: {
        projectId,
        action: READ_AUDIT_ACTION,
        targetType: "study",
        targetId: study,
        createdAt: { gt: since },
        ...(reader.token ? { actorId: null, after: { path: ["tokenId"], equals: reader.token.tokenId } } : { actorId: reader.userId }),
      },
      orderBy: { createdAt: "desc" },
      select: { createdAt: true },
    });
    if (last) {
      remember(key, last.createdAt.getTime() + span);
      return;
    }
    await writeAudit(prisma, {
      projectId,
      actorId: reader.userId,
      action: READ_AUDIT_ACTION,
      targetType: "study",
      targetId: study,
      after: {
        first: what,
        windowMinutes: span / 60_000,
        via: reader.token ? "token" : "session",
        ...(reader.token ? { tokenId: reader.token.tokenId, tokenName: reader.token.name } : {}),
      },
    });
    remember(key, now + span);
  })().finally(() => pending.delete(key));
  pending.set(key, p);
  return p;
}

function remember(key: string, until: number): void {
  if (audited.size >= MEMO_LIMIT) {
    const now = Date.now();
    for (const [k, t] of audited) if (t <= now) audited.delete(k);
    if (audited.size >= MEMO_LIMIT) audited.clear();
  }
  audited.set(key, until);
}

/** Tests: forget the per-process memo (the database still holds the events). */
export function resetReadAuditMemo(): void {
  audited.clear();
}
