// The site de-identification floor on the server: the site's floor (SiteSettings.deidFloor), the
// floor policy of a project's active setting (site-allowed retain options + the approved
// exceptions of exactly that setting), and the approval requests site admins decide. Every
// decision is audited in the project's log AND the site's (projectId null).
import { createHash } from "node:crypto";
import { TRPCError } from "@trpc/server";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { readSiteSettings, updateSiteSettings } from "@/server/site/settings";
import { readDeidFloor, type DeidFloor } from "@/lib/site/settings";
import { parseCtpScript } from "@/lib/dicom/ctp/script";
import { parseProfileSpec } from "@/lib/dicom/profile";
import {
  describeExceptions,
  isEmptyExceptions,
  policyWith,
  profileExceptions,
  scriptExceptions,
  type FloorExceptions,
  type FloorPolicy,
} from "@/lib/dicom/floor";
import { INTAKE_DEFAULTS } from "@/lib/intake/settings";

type Db = PrismaClient | Prisma.TransactionClient;

/** The setting that de-identifies a project's instances: its script if it has one, else its profile. */
export interface ActiveSetting {
  kind: "profile" | "script";
  setting: string;
}
export function activeSetting(s: { deidProfile: string; deidScript: string | null } | null): ActiveSetting {
  return s?.deidScript ? { kind: "script", setting: s.deidScript } : { kind: "profile", setting: s?.deidProfile ?? INTAKE_DEFAULTS.deidProfile };
}

export function settingHash(a: ActiveSetting): string {
  return createHash("sha256").update(`${a.kind}\n${a.setting}`).digest("hex");
}

export async function siteDeidFloor(db: Db): Promise<DeidFloor> {
  return readDeidFloor((await readSiteSettings(db as PrismaClient))?.deidFloor);
}

export async function setSiteDeidFloor(prisma: PrismaClient, actorId: string, floor: DeidFloor) {
  const after = await updateSiteSettings(prisma, actorId, { deidFloor: floor as Prisma.InputJsonValue });
  return readDeidFloor(after.deidFloor);
}

/** What the setting keeps beyond the site floor (never throws on a stored setting: unreadable keeps nothing, it is quarantined later). */
export function exceptionsOf(a: ActiveSetting, floor: DeidFloor): FloorExceptions {
  const site = policyWith(floor.allowedRetain);
  if (a.kind === "script") return scriptExceptions(parseCtpScript(a.setting), site);
  return profileExceptions(parseProfileSpec(a.setting), site);
}

function readExceptions(json: unknown): FloorExceptions {
  const j = (json ?? {}) as Partial<FloorExceptions>;
  return { options: Array.isArray(j.options) ? j.options : [], tags: Array.isArray(j.tags) ? j.tags : [], keepPrivate: j.keepPrivate === true };
}

/** The floor every output of the project's active setting must pass. */
export async function projectFloorPolicy(db: Db, projectId: string, active: ActiveSetting, floor?: DeidFloor): Promise<FloorPolicy> {
  const site = floor ?? (await siteDeidFloor(db));
  const approval = await db.deidApproval.findFirst({
    where: { projectId, settingHash: settingHash(active), status: "approved" },
    orderBy: { decidedAt: "desc" },
  });
  const profileOptions = active.kind === "profile" ? parseProfileSpec(active.setting) : [];
  return policyWith(site.allowedRetain, approval ? readExceptions(approval.exceptions) : undefined, profileOptions);
}

export interface PendingApproval {
  id: string;
  keeps: string[];
  message: string;
}

/**
 * For a setting that keeps what the floor removes: undefined when it may be applied (nothing
 * beyond the floor, or approved for exactly this setting), else the pending request (created
 * once per setting, audited in the project).
 */
export async function gateSetting(tx: Prisma.TransactionClient, projectId: string, actorId: string, a: ActiveSetting): Promise<PendingApproval | undefined> {
  const floor = await siteDeidFloor(tx);
  const ex = exceptionsOf(a, floor);
  if (isEmptyExceptions(ex)) return undefined;
  const hash = settingHash(a);
  if (await tx.deidApproval.findFirst({ where: { projectId, settingHash: hash, status: "approved" } })) return undefined;
  const keeps = describeExceptions(ex);
  let req = await tx.deidApproval.findFirst({ where: { projectId, settingHash: hash, status: "pending" } });
  if (!req) {
    req = await tx.deidApproval.create({
      data: { projectId, kind: a.kind, setting: a.setting, settingHash: hash, exceptions: ex as unknown as Prisma.InputJsonValue, requestedById: actorId },
    });
    await writeAudit(tx, {
      projectId,
      actorId,
      action: "deid.approval.request",
      targetType: "deidApproval",
      targetId: req.id,
      after: { kind: a.kind, settingSha256: hash, keeps } as Prisma.InputJsonValue,
    });
  }
  const shown = keeps.length > 8 ? [...keeps.slice(0, 8), `and ${keeps.length - 8} more`] : keeps;
  return {
    id: req.id,
    keeps,
    message:
      `This ${a.kind === "script" ? "script" : "profile"} keeps what the site de-identification floor removes (${shown.join("; ")}). ` +
      "A site admin must approve it before it applies; the request was sent. Until then the current settings stay in force.",
  };
}

/** The pending request for the project's last submitted setting, if any. */
export async function pendingForProject(db: Db, projectId: string) {
  const r = await db.deidApproval.findFirst({ where: { projectId, status: "pending" }, orderBy: { createdAt: "desc" } });
  return r ? { id: r.id, kind: r.kind, createdAt: r.createdAt, keeps: describeExceptions(readExceptions(r.exceptions)) } : null;
}

/** Pending requests and the latest decisions, for the admins' panel (settings by hash and size; scripts are shown on request). */
export async function listApprovals(prisma: PrismaClient) {
  const [pending, decided] = await Promise.all([
    prisma.deidApproval.findMany({ where: { status: "pending" }, orderBy: { createdAt: "asc" }, take: 200 }),
    prisma.deidApproval.findMany({ where: { status: { in: ["approved", "rejected"] } }, orderBy: { decidedAt: "desc" }, take: 50 }),
  ]);
  const users = await prisma.user.findMany({
    where: { id: { in: [...pending, ...decided].flatMap((r) => [r.requestedById, r.decidedById]).filter((x): x is string => !!x) } },
    select: { id: true, email: true, name: true },
  });
  const who = (id: string | null) => (id ? (users.find((u) => u.id === id)?.email ?? id) : null);
  const view = (r: (typeof pending)[number]) => ({
    id: r.id,
    projectId: r.projectId,
    kind: r.kind as "profile" | "script",
    setting: r.setting,
    keeps: describeExceptions(readExceptions(r.exceptions)),
    status: r.status,
    requestedBy: who(r.requestedById),
    decidedBy: who(r.decidedById),
    note: r.note,
    createdAt: r.createdAt,
    decidedAt: r.decidedAt,
  });
  return { pending: pending.map(view), decided: decided.map(view) };
}

/** Approves (and applies) or rejects a pending request; audited in the project and the site. */
export async function decideApproval(prisma: PrismaClient, actorId: string, approvalId: string, approve: boolean, note: string | undefined) {
  return prisma.$transaction(async (tx) => {
    const r = await tx.deidApproval.findUnique({ where: { id: approvalId } });
    if (!r) throw new TRPCError({ code: "NOT_FOUND", message: "No such approval request. Reload the list." });
    if (r.status !== "pending") throw new TRPCError({ code: "CONFLICT", message: `This request was already ${r.status}. Reload the list.` });
    const status = approve ? "approved" : "rejected";
    await tx.deidApproval.update({ where: { id: r.id }, data: { status, decidedById: actorId, decidedAt: new Date(), note: note ?? null } });
    if (approve) {
      const data = r.kind === "script" ? { deidScript: r.setting } : { deidProfile: r.setting, deidScript: null };
      await tx.projectIntake.upsert({ where: { projectId: r.projectId }, create: { projectId: r.projectId, ...data }, update: data });
    }
    const detail = {
      approvalId: r.id,
      projectId: r.projectId,
      kind: r.kind,
      settingSha256: r.settingHash,
      keeps: describeExceptions(readExceptions(r.exceptions)),
      ...(note ? { note } : {}),
    } as Prisma.InputJsonValue;
    for (const projectId of [r.projectId, null]) {
      await writeAudit(tx, { projectId, actorId, action: `deid.approval.${approve ? "approve" : "reject"}`, targetType: "deidApproval", targetId: r.id, after: detail });
    }
    return { id: r.id, status };
  });
}
