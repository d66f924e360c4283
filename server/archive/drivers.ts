// Picks the archive driver of a project's target: its XNAT (credentials opened here, never logged),
// or the built-in local archive when the project has no target row or kind=local.
import type { PrismaClient, ProjectArchiveTarget } from "@/server/db/generated/client";
import type { ArchiveDriver } from "@/lib/archive/driver";
import { XnatArchiveDriver, credentialsFor, type XnatDriverOptions } from "@/lib/archive/xnat-driver";
import { openSecret } from "@/server/secrets";
import { createLocalArchiveDriver } from "./local-driver";

export class ArchiveTargetError extends Error {
  override readonly name = "ArchiveTargetError";
}

export function xnatTargetOf(target: ProjectArchiveTarget) {
  if (!target.xnatUrl || !target.xnatProject || !target.xnatUser || !target.xnatSecretSealed) {
    throw new ArchiveTargetError("The project's XNAT archive target is incomplete (URL, project, user and password or token are all needed): complete it in the project's Archive settings.");
  }
  let secret: string;
  try {
    secret = openSecret(target.xnatSecretSealed, { table: "ProjectArchiveTarget", id: target.projectId, field: "xnatSecretSealed" });
  } catch {
    throw new ArchiveTargetError("The stored XNAT password cannot be decrypted (ATRIUM_SECRET_KEY changed, or differs between portal and workers): enter the password again in the project's Archive settings.");
  }
  return { url: target.xnatUrl, project: target.xnatProject, credentials: credentialsFor(target.xnatUser, secret) };
}

export function createArchiveDriver(
  prisma: PrismaClient,
  target: ProjectArchiveTarget | null,
  options: { xnat?: XnatDriverOptions } = {},
): ArchiveDriver {
  if (target?.kind === "xnat") return new XnatArchiveDriver(xnatTargetOf(target), options.xnat);
  return createLocalArchiveDriver(prisma);
}
