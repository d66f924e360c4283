"use client";
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ActionIcon, Alert, Avatar, Badge, Button, Card, CopyButton, Group, List, Select, SimpleGrid, Stack, Table, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconCheck, IconCopy, IconLock, IconMailPlus, IconTrash, IconX } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { RoleBadge, roleInfo } from "./labels";
import { AccessRequestsPanel } from "./AccessRequests";

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
        This project is protected: you can see that it exists, not its members or data. Use “Request access” above to ask its owners.
      </Alert>
    );
  }
  return (
    <Stack gap="lg">
      {isOwner && <AccessRequestsPanel projectId={projectId} onDecided={refresh} />}
      {isOwner && <InviteForm projectId={projectId} onInvited={refresh} mailConfigured={members.data?.mailConfigured ?? null} />}
      <ErrorAlert error={members.error} title="Could not load members" onRetry={() => void members.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Table verticalSpacing="sm" horizontalSpacing="md">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Member</Table.Th>
              <Table.Th w={200}>Role</Table.Th>
              <Table.Th w={140}>Since</Table.Th>
              {isOwner && <Table.Th w={80} />}
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
                  <Group gap={2} wrap="nowrap">
                  <CopyLink link={i.link} label={`Copy the invitation link for ${i.email}`} />
                  <Tooltip label="Cancel invitation">
                    <ActionIcon variant="subtle" color="gray" aria-label={`Cancel invitation of ${i.email}`} onClick={() => cancel.mutate({ projectId, invitationId: i.id })}>
                      <IconX size={16} />
                    </ActionIcon>
                  </Tooltip>
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Card>
    </Stack>
  );
}

function CopyLink({ link, label }: { link: string; label: string }) {
  return (
    <CopyButton value={link}>
      {({ copied, copy }) => (
        <Tooltip label={copied ? "Copied" : "Copy the invitation link"}>
          <ActionIcon variant="subtle" color={copied ? "teal" : "gray"} aria-label={label} onClick={copy}>
            {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
          </ActionIcon>
        </Tooltip>
      )}
    </CopyButton>
  );
}

/** What each role may do, beside the picker (the same words as the invitation e-mail). */
function RoleHelp({ selected }: { selected: Role }) {
  return (
    <SimpleGrid cols={{ base: 1, md: 3 }} spacing="sm" data-testid="role-help">
      {(Object.keys(roleInfo) as Role[]).map((r) => (
        <Card key={r} withBorder radius="sm" padding="xs" bg={r === selected ? "var(--mantine-color-indigo-0)" : undefined}>
          <Group gap={6} mb={4}>
            <RoleBadge role={r} />
            <Text size="sm" fw={500}>{roleInfo[r].help}</Text>
          </Group>
          <List size="xs" spacing={2}>
            {roleInfo[r].may.map((m) => <List.Item key={m}>{m}</List.Item>)}
          </List>
        </Card>
      ))}
    </SimpleGrid>
  );
}

type InviteOutcome = { email: string; role: Role; sent: boolean; message: string | null; link: string };

function InviteForm({ projectId, onInvited, mailConfigured }: { projectId: string; onInvited: () => Promise<void>; mailConfigured: boolean | null }) {
  const trpc = useTRPC();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [outcome, setOutcome] = useState<InviteOutcome | null>(null);
  const invite = useMutation(
    trpc.member.invite.mutationOptions({
      onSuccess: async (r, v) => {
        if (r.status === "added") {
          setOutcome(null);
          notifications.show({ color: "teal", title: "Member added", message: `${v.email} already had an account and is now a ${v.role}.` });
        } else {
          setOutcome({ email: v.email, role: v.role as Role, sent: r.mail.sent, message: r.mail.sent ? null : r.mail.message, link: r.mail.link });
          if (r.mail.sent) notifications.show({ color: "teal", title: "Invitation e-mailed", message: `${v.email} becomes a ${v.role} when they first sign in.` });
        }
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
              error={invite.error?.message.replace(/^email: /, "")}
            />
            <Select
              w={190}
              data={roleOptions}
              value={role}
              allowDeselect={false}
              onChange={(v) => v && setRole(v as Role)}
              aria-label="Role"
              renderOption={({ option }) => (
                <div>
                  <Text size="sm">{option.label}</Text>
                  <Text size="xs" c="dimmed">{roleInfo[option.value as Role].help}</Text>
                </div>
              )}
            />
            <Button type="submit" loading={invite.isPending} leftSection={<IconMailPlus size={16} />}>Invite</Button>
          </Group>
          <RoleHelp selected={role} />
          <Text size="xs" c="dimmed">
            People who have not signed in yet join when they first sign in with this address.{" "}
            {mailConfigured === false && "No mail server is configured (ATRIUM_SMTP_HOST): Atrium cannot e-mail invitations; copy the link it gives you and send it yourself."}
            {mailConfigured === true && "The invitation is e-mailed to them with a link to the project."}
          </Text>
          {outcome && !outcome.sent && (
            <Alert color="orange" title={`${outcome.email} is invited, but no e-mail was sent`} data-testid="invite-link" withCloseButton onClose={() => setOutcome(null)}>
              <Stack gap={6}>
                <Text size="sm">{outcome.message}</Text>
                <Group gap="xs">
                  <TextInput readOnly value={outcome.link} flex={1} aria-label="Invitation link" onFocus={(e) => e.currentTarget.select()} />
                  <CopyButton value={outcome.link}>
                    {({ copied, copy }) => (
                      <Button variant="light" leftSection={copied ? <IconCheck size={16} /> : <IconCopy size={16} />} onClick={copy}>{copied ? "Copied" : "Copy link"}</Button>
                    )}
                  </CopyButton>
                </Group>
              </Stack>
            </Alert>
          )}
        </Stack>
      </form>
    </Card>
  );
}
