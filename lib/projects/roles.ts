// What each project role may do, in words: the role picker, the member list and the invitation
// e-mail say the same thing. (lib/access decides; this describes its decisions.)
import type { ProjectRole } from "@/lib/access";

export const ROLE_INFO: Record<ProjectRole, { label: string; summary: string; may: string[] }> = {
  owner: {
    label: "Owner",
    summary: "Manages the project and its members.",
    may: [
      "everything a member may do",
      "change the project's settings: intake, AE titles, routing rules, de-identification, archive and forwarding",
      "invite and remove people and change their roles",
      "view original (identifying) headers of quarantined and held instances, each view audited",
      "retry, route and delete quarantined data, and read the audit log",
    ],
  },
  member: {
    label: "Member",
    summary: "Reads and writes data.",
    may: [
      "everything a collaborator may do",
      "upload data and see the quarantine and pixel-review queues (without identifying values)",
      "take, answer and submit tasks",
    ],
  },
  collaborator: {
    label: "Collaborator",
    summary: "Reads data.",
    may: ["browse and view the project's de-identified data", "see its intake status and where its data is archived", "download, only if the owners allow collaborators to"],
  },
};

/** One line per role: "Owner: manages …; may …". */
export function roleDescription(role: ProjectRole): string {
  const r = ROLE_INFO[role];
  return `${r.label}: ${r.summary} May ${r.may.join("; ")}.`;
}
