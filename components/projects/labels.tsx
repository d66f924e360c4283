import { Badge, Tooltip } from "@mantine/core";
import { IconLock, IconEyeCheck, IconWorld } from "@tabler/icons-react";
import { ROLE_INFO } from "@/lib/projects/roles";

export const accessibilityInfo = {
  private: { label: "Private", color: "gray", icon: IconLock, help: "Only members see this project." },
  protected: { label: "Protected", color: "orange", icon: IconEyeCheck, help: "Listed for everyone signed in; data only for members." },
  public: { label: "Public", color: "teal", icon: IconWorld, help: "Everyone signed in can read its data." },
} as const;

export const roleInfo = {
  owner: { label: ROLE_INFO.owner.label, color: "indigo", help: ROLE_INFO.owner.summary, may: ROLE_INFO.owner.may },
  member: { label: ROLE_INFO.member.label, color: "blue", help: ROLE_INFO.member.summary, may: ROLE_INFO.member.may },
  collaborator: { label: ROLE_INFO.collaborator.label, color: "cyan", help: ROLE_INFO.collaborator.summary, may: ROLE_INFO.collaborator.may },
} as const;

export function AccessibilityBadge({ value }: { value: keyof typeof accessibilityInfo }) {
  const a = accessibilityInfo[value];
  return (
    <Tooltip label={a.help}>
      <Badge variant="light" color={a.color} leftSection={<a.icon size={12} />}>{a.label}</Badge>
    </Tooltip>
  );
}

export function RoleBadge({ role }: { role: keyof typeof roleInfo | null }) {
  if (!role) return <Badge variant="outline" color="gray">Not a member</Badge>;
  const r = roleInfo[role];
  return <Badge variant="filled" color={r.color}>{r.label}</Badge>;
}
