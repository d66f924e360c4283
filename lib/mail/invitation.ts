// The invitation e-mail of a project: who invites, to which project and role (and what that role
// may do), and the link that opens the project after signing in with the invited address.
import type { ProjectRole } from "@/lib/access";
import { ROLE_INFO } from "@/lib/projects/roles";

export interface InvitationFacts {
  projectId: string;
  projectName: string;
  role: ProjectRole;
  inviter: string;
  /** The portal's base URL (NEXTAUTH_URL), without a trailing slash. */
  portalUrl: string;
}

/** Where the invited person goes: the project; signing in with the invited address makes them a member. */
export function invitationLink(portalUrl: string, projectId: string): string {
  return `${portalUrl.replace(/\/+$/, "")}/projects/${encodeURIComponent(projectId)}`;
}

export function invitationMail(f: InvitationFacts): { subject: string; body: string } {
  const role = ROLE_INFO[f.role];
  return {
    subject: `${f.inviter} invited you to ${f.projectName} on Atrium`,
    body: [
      `${f.inviter} invited you to the project "${f.projectName}" (${f.projectId}) on Atrium as ${role.label.toLowerCase()}.`,
      "",
      `As ${role.label.toLowerCase()} you may:`,
      ...role.may.map((m) => `  - ${m}`),
      "",
      "To accept, open this link and sign in with this e-mail address:",
      invitationLink(f.portalUrl, f.projectId),
      "",
      "If you did not expect this invitation, ignore this message: nothing happens until you sign in.",
    ].join("\n"),
  };
}
