"use client";
// Access requests (issue #21): "Request access" for someone who sees a project without taking part
// in it (or a collaborator who needs more), and the owners' list of pending requests on the Members
// tab, approved with a role or declined.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Badge, Button, Card, Group, Modal, Select, Stack, Table, Text, Textarea, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconUserPlus } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { roleInfo } from "./labels";

export function RequestAccessButton({ projectId, currentRole }: { projectId: string; currentRole: "collaborator" | null }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const mine = useQuery(trpc.member.myAccessRequest.queryOptions({ projectId }));
  const [open, setOpen] = useState(false);
  const [role, setRole] = useState<"member" | "collaborator">("member");
  const [message, setMessage] = useState("");
  const ask = useMutation(
    trpc.member.requestAccess.mutationOptions({
      onSuccess: async () => {
        notifications.show({ color: "teal", title: "Access requested", message: "The project's owners see your request on its Members tab." });
        setOpen(false);
        await qc.invalidateQueries({ queryKey: trpc.member.myAccessRequest.queryKey({ projectId }) });
      },
    }),
  );
  const r = mine.data;
  if (r?.status === "pending")
    return <Badge color="yellow" variant="light" size="lg" data-testid="access-pending">Access requested {new Date(r.createdAt).toLocaleDateString()} · waiting for an owner</Badge>;
  return (
    <>
      <Group gap="xs">
        {r?.status === "declined" && <Text size="xs" c="dimmed">Your last request was declined.</Text>}
        <Button variant="light" leftSection={<IconUserPlus size={16} />} onClick={() => setOpen(true)}>{r?.status === "declined" ? "Ask again" : "Request access"}</Button>
      </Group>
      <Modal opened={open} onClose={() => setOpen(false)} title="Request access to this project">
        <Stack>
          <Select
            label="As"
            data={[
              { value: "member", label: `Member — ${roleInfo.member.help}` },
              ...(currentRole === "collaborator" ? [] : [{ value: "collaborator", label: `Collaborator — ${roleInfo.collaborator.help}` }]),
            ]}
            value={role}
            onChange={(v) => setRole((v as "member" | "collaborator") ?? "member")}
            allowDeselect={false}
          />
          <Textarea label="What you would do (the owners read this)" value={message} onChange={(e) => setMessage(e.currentTarget.value)} autosize minRows={3} maxLength={2000} />
          <ErrorAlert error={ask.error} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setOpen(false)}>Cancel</Button>
            <Button loading={ask.isPending} onClick={() => ask.mutate({ projectId, role, message })}>Send the request</Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}

export function AccessRequestsPanel({ projectId, onDecided }: { projectId: string; onDecided: () => Promise<void> }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const q = useQuery(trpc.member.accessRequests.queryOptions({ projectId }, { refetchInterval: 30_000 }));
  const [roles, setRoles] = useState<Record<string, string>>({});
  const decide = useMutation(
    trpc.member.decideAccess.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: r.status === "approved" ? "Request approved" : "Request declined", message: r.status === "approved" ? `They are a ${r.role} now.` : "They can ask again." });
        await qc.invalidateQueries({ queryKey: trpc.member.accessRequests.queryKey({ projectId }) });
        await onDecided();
      },
    }),
  );
  if (!q.data?.length && !q.error) return null;
  return (
    <Card withBorder data-testid="access-requests">
      <Title order={5} mb="xs">Access requests</Title>
      <ErrorAlert error={q.error ?? decide.error} />
      <Table fz="sm">
        <Table.Thead><Table.Tr><Table.Th>Who</Table.Th><Table.Th>Asks to be</Table.Th><Table.Th>Why</Table.Th><Table.Th>Give</Table.Th><Table.Th /></Table.Tr></Table.Thead>
        <Table.Tbody>
          {q.data?.map((r) => (
            <Table.Tr key={r.id}>
              <Table.Td>{r.name ? `${r.name} <${r.email ?? ""}>` : r.email}</Table.Td>
              <Table.Td>{r.role}</Table.Td>
              <Table.Td><Text size="sm" lineClamp={3}>{r.message || "—"}</Text></Table.Td>
              <Table.Td>
                <Select size="xs" w={150} aria-label={`Role for ${r.email ?? r.userId}`} data={["collaborator", "member", "owner"]} value={roles[r.id] ?? r.role} onChange={(v) => v && setRoles((x) => ({ ...x, [r.id]: v }))} allowDeselect={false} />
              </Table.Td>
              <Table.Td>
                <Group gap={4} wrap="nowrap">
                  <Button size="compact-sm" color="teal" onClick={() => decide.mutate({ projectId, requestId: r.id, decision: "approve", role: (roles[r.id] ?? r.role) as "collaborator" | "member" | "owner" })}>Approve</Button>
                  <Button size="compact-sm" variant="default" onClick={() => decide.mutate({ projectId, requestId: r.id, decision: "decline" })}>Decline</Button>
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Card>
  );
}
