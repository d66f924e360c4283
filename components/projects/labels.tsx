import { Badge, Tooltip } from "@mantine/core";
import { IconLock, IconEyeCheck, IconWorld } from "@tabler/icons-react";

export const accessibilityInfo = {
  private: { label: "Private", color: "gray", icon: IconLock, help: "Only members see this project." },
  protected: { label: "Protected", color: "orange", icon: IconEyeCheck, help: "Listed for everyone signed in; data only for members." },
  public: { label: "Public", color: "teal", icon: IconWorld, help: "Everyone signed in can read its data." },
} as const;

export const roleInfo = {
  owner: { label: "Owner", color: "indigo", help: "Manages the project and its members." },
  member: { label: "Member", color: "blue", help: "Reads and writes data." },
  collaborator: { label: "Collaborator", color: "cyan", help: "Reads data." },
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
