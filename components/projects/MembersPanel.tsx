"use client";
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ActionIcon, Alert, Avatar, Badge, Button, Card, Group, Select, Stack, Table, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconLock, IconMailPlus, IconTrash, IconX } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { RoleBadge, roleInfo } from "./labels";

type Role = keyof typeof roleInfo;
const roleOptions = (Object.keys(roleInfo) as Role[]).map((r) => ({ value: r, label: roleInfo[r].label }));

export function MembersPanel({ projectId, canRead, isOwner }: { projectId: string; canRead: boolean; isOwner: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const members = useQuery(trpc.member.list.queryOptions({ projectId }, { enabled: canRead }));
  const refresh = async () => {
    await queryClient.invalidateQueries({ queryKey: trpc.member.list.queryKey({ projectId }) });
    await queryClient.invalidateQueries({ queryKey: trpc.project.get.queryKey({ projectId }) });
    await queryClient.invalidateQueries({ queryKey: trpc.audit.list.queryKey() });
  };
  const onError = (title: string) => (e: { message: string }) => notifications.show({ color: "red", title, message: e.message });
  const changeRole = useMutation(trpc.member.changeRole.mutationOptions({ onSuccess: refresh, onError: onError("Role not changed") }));
  const remove = useMutation(trpc.member.remove.mutationOptions({ onSuccess: refresh, onError: onError("Member not removed") }));
  const cancel = useMutation(trpc.member.cancelInvitation.mutationOptions({ onSuccess: refresh, onError: onError("Invitation not cancelled") }));

  if (!canRead) {
    return (
      <Alert icon={<IconLock size={18} />} color="gray" title="Members are visible to the project's members">
        This project is protected: you can see that it exists, not its members or data. Ask an owner to add you.
      </Alert>
    );
  }
  return (
    <Stack gap="lg">
      {isOwner && <InviteForm projectId={projectId} onInvited={refresh} />}
      <ErrorAlert error={members.error} title="Could not load members" onRetry={() => void members.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Table verticalSpacing="sm" horizontalSpacing="md">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Member</Table.Th>
              <Table.Th w={200}>Role</Table.Th>
              <Table.Th w={140}>Since</Table.Th>
              {isOwner && <Table.Th w={60} />}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {members.data?.members.map((m) => (
              <Table.Tr key={m.userId} data-testid={`member-${m.email}`}>
                <Table.Td>
                  <Group gap="sm">
                    <Avatar name={m.name ?? m.email ?? "?"} color="initials" size="sm" />
                    <div>
                      <Text size="sm" fw={500}>{m.name ?? m.email}</Text>
                      <Text size="xs" c="dimmed">{m.email}</Text>
                    </div>
                  </Group>
                </Table.Td>
                <Table.Td>
                  {isOwner ? (
                    <Select
                      size="xs"
                      data={roleOptions}
                      value={m.role}
                      allowDeselect={false}
                      aria-label={`Role of ${m.email}`}
                      onChange={(v) => v && v !== m.role && changeRole.mutate({ projectId, userId: m.userId, role: v as Role })}
                    />
                  ) : (
                    <RoleBadge role={m.role} />
                  )}
                </Table.Td>
                <Table.Td><Text size="sm">{new Date(m.since).toLocaleDateString()}</Text></Table.Td>
                {isOwner && (
                  <Table.Td>
                    <Tooltip label="Remove from project">
                      <ActionIcon
                        variant="subtle"
                        color="red"
                        aria-label={`Remove ${m.email}`}
                        onClick={() => {
                          if (window.confirm(`Remove ${m.email ?? "this member"} from ${projectId}?`)) remove.mutate({ projectId, userId: m.userId });
                        }}
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  </Table.Td>
                )}
              </Table.Tr>
            ))}
            {members.data?.invitations.map((i) => (
              <Table.Tr key={i.id} bg="var(--mantine-color-gray-0)">
                <Table.Td>
                  <Group gap="sm">
                    <Avatar size="sm" color="gray"><IconMailPlus size={14} /></Avatar>
                    <div>
                      <Text size="sm">{i.email}</Text>
                      <Badge size="xs" variant="light" color="yellow">Invited · waits for first sign-in</Badge>
                    </div>
                  </Group>
                </Table.Td>
                <Table.Td><RoleBadge role={i.role} /></Table.Td>
                <Table.Td><Text size="sm">{new Date(i.createdAt).toLocaleDateString()}</Text></Table.Td>
                <Table.Td>
                  <Tooltip label="Cancel invitation">
                    <ActionIcon variant="subtle" color="gray" aria-label={`Cancel invitation of ${i.email}`} onClick={() => cancel.mutate({ projectId, invitationId: i.id })}>
                      <IconX size={16} />
                    </ActionIcon>
                  </Tooltip>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Card>
    </Stack>
  );
}

function InviteForm({ projectId, onInvited }: { projectId: string; onInvited: () => Promise<void> }) {
  const trpc = useTRPC();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const invite = useMutation(
    trpc.member.invite.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({
          color: "teal",
          title: r.status === "added" ? "Member added" : "Invitation sent",
          message: r.status === "added" ? `${email} is now a ${role}.` : `${email} becomes a ${role} when they first sign in.`,
        });
        setEmail("");
        await onInvited();
      },
    }),
  );
  return (
    <Card withBorder radius="md" padding="lg">
      <form onSubmit={(e) => { e.preventDefault(); invite.mutate({ projectId, email, role }); }}>
        <Stack gap="sm">
          <Title order={5}>Invite by e-mail</Title>
          <Group align="flex-start">
            <TextInput
              flex={1}
              placeholder="colleague@institute.org"
              aria-label="E-mail to invite"
              value={email}
              onChange={(e) => setEmail(e.currentTarget.value)}
              error={invite.error?.message}
            />
            <Select w={170} data={roleOptions} value={role} allowDeselect={false} onChange={(v) => v && setRole(v as Role)} aria-label="Role" />
            <Button type="submit" loading={invite.isPending} leftSection={<IconMailPlus size={16} />}>Invite</Button>
          </Group>
          <Text size="xs" c="dimmed">People who have not signed in yet join when they first sign in with this address.</Text>
        </Stack>
      </form>
    </Card>
  );
}
