"use client";
// The site de-identification floor (site admins): which PS3.15 retain options every project may
// use, and the project settings that keep more, waiting for an admin's approval. Approving applies
// the setting to the project; every decision is audited in the project's log and the site's.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Badge, Button, Card, Checkbox, Code, Group, List, SimpleGrid, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTRPC } from "@/components/trpc";
import { RETAIN_MEANINGS, RETAIN_OPTIONS, type RetainOption } from "@/lib/dicom/retain";

function FloorForm({ allowed }: { allowed: RetainOption[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [value, setValue] = useState<string[]>(allowed);
  const save = useMutation(
    trpc.admin.setDeidFloor.mutationOptions({
      onSuccess: async () => {
        notifications.show({ color: "teal", title: "Floor saved", message: "Every project's output is checked against the new floor from now on." });
        await queryClient.invalidateQueries({ queryKey: trpc.admin.deidFloor.queryKey() });
      },
      onError: (e) => notifications.show({ color: "red", title: "Not saved", message: e.message }),
    }),
  );
  return (
    <Card withBorder radius="md" padding="lg" data-testid="deid-floor-form">
      <Title order={5} mb={4}>Site floor</Title>
      <Text size="sm" c="dimmed" mb="md">
        Every de-identified output is checked against the PS3.15 Basic profile, whatever a project&apos;s profile or CTP script says: a value
        the floor removes that is still in the output sends the instance to quarantine. The retain options ticked here loosen the floor for
        every project; anything else that keeps what the floor removes needs your approval below.
      </Text>
      <Checkbox.Group value={value} onChange={setValue}>
        <SimpleGrid cols={{ base: 1, sm: 2 }} spacing={6}>
          {RETAIN_OPTIONS.map((o) => <Checkbox key={o} value={o} label={RETAIN_MEANINGS[o]} />)}
        </SimpleGrid>
      </Checkbox.Group>
      <Group mt="md">
        <Button onClick={() => save.mutate({ allowedRetain: value as RetainOption[] })} loading={save.isPending}>Save floor</Button>
        <Text size="xs" c="dimmed">{value.length ? `Basic + ${value.length} retain option${value.length > 1 ? "s" : ""}` : "Basic, no retain option (the default)"}</Text>
      </Group>
    </Card>
  );
}

export function DeidFloorPanel() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const data = useQuery(trpc.admin.deidFloor.queryOptions(undefined, { retry: false }));
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [shown, setShown] = useState<string | null>(null);
  const decide = useMutation(
    trpc.admin.decideDeidApproval.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({
          color: r.status === "approved" ? "teal" : "gray",
          title: r.status === "approved" ? "Approved" : "Rejected",
          message: r.status === "approved" ? "The setting applies to the project from now on; recorded in the project's and the site's audit log." : "The project keeps its current settings; recorded in both audit logs.",
        });
        await queryClient.invalidateQueries({ queryKey: trpc.admin.deidFloor.queryKey() });
      },
      onError: (e) => notifications.show({ color: "red", title: "Not decided", message: e.message }),
    }),
  );
  return (
    <Stack gap="lg">
      <div>
        <Title order={2}>De-identification floor</Title>
        <Text c="dimmed" size="sm">What every project&apos;s output must satisfy, and the exceptions waiting for a site administrator.</Text>
      </div>
      {data.error && <Alert color="red" title="Cannot load the floor">{data.error.message} Reload the page; if it persists, check the server log.</Alert>}
      {data.data && <FloorForm key={data.data.floor.allowedRetain.join("+")} allowed={data.data.floor.allowedRetain} />}
      {data.data && (
        <Card withBorder radius="md" padding="lg" data-testid="deid-approvals">
          <Title order={5} mb="sm">
            Waiting for approval <Badge ml={6} color={data.data.pending.length ? "orange" : "gray"}>{data.data.pending.length}</Badge>
          </Title>
          {!data.data.pending.length ? (
            <Text size="sm" c="dimmed">No project setting waits for approval.</Text>
          ) : (
            <Table verticalSpacing="sm">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Project</Table.Th>
                  <Table.Th>Keeps beyond the floor</Table.Th>
                  <Table.Th>Requested</Table.Th>
                  <Table.Th>Decision</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.data.pending.map((r) => (
                  <Table.Tr key={r.id}>
                    <Table.Td>
                      <Text fw={600}>{r.projectId}</Text>
                      <Text size="xs" c="dimmed">{r.kind === "script" ? "CTP script" : "PS3.15 profile"}</Text>
                      <Button size="compact-xs" variant="subtle" onClick={() => setShown(shown === r.id ? null : r.id)}>{shown === r.id ? "Hide setting" : "Show setting"}</Button>
                      {shown === r.id && <Code block mt={4} mah={240} style={{ overflow: "auto", maxWidth: 420 }}>{r.setting}</Code>}
                    </Table.Td>
                    <Table.Td>
                      <List size="sm" spacing={2}>
                        {r.keeps.slice(0, 12).map((k) => <List.Item key={k}>{k}</List.Item>)}
                        {r.keeps.length > 12 && <List.Item>and {r.keeps.length - 12} more</List.Item>}
                      </List>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{r.requestedBy ?? "—"}</Text>
                      <Text size="xs" c="dimmed">{new Date(r.createdAt).toLocaleString()}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Stack gap={6}>
                        <TextInput size="xs" placeholder="Why (e.g. the ethics approval)" value={notes[r.id] ?? ""} onChange={(e) => setNotes({ ...notes, [r.id]: e.currentTarget.value })} />
                        <Group gap={6}>
                          <Button size="xs" color="teal" loading={decide.isPending} onClick={() => decide.mutate({ approvalId: r.id, approve: true, note: notes[r.id] || undefined })}>Approve</Button>
                          <Button size="xs" variant="default" color="red" loading={decide.isPending} onClick={() => decide.mutate({ approvalId: r.id, approve: false, note: notes[r.id] || undefined })}>Reject</Button>
                        </Group>
                      </Stack>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
      )}
      {data.data && data.data.decided.length > 0 && (
        <Card withBorder radius="md" padding="lg">
          <Title order={5} mb="sm">Recent decisions</Title>
          <Table>
            <Table.Tbody>
              {data.data.decided.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td w={130}><Badge color={r.status === "approved" ? "teal" : "gray"} variant="light" style={{ overflow: "visible" }}>{r.status}</Badge></Table.Td>
                  <Table.Td><Text size="sm" fw={500}>{r.projectId}</Text><Text size="xs" c="dimmed">{r.keeps.slice(0, 3).join("; ")}{r.keeps.length > 3 ? "; …" : ""}</Text></Table.Td>
                  <Table.Td><Text size="sm">{r.decidedBy}</Text><Text size="xs" c="dimmed">{r.decidedAt ? new Date(r.decidedAt).toLocaleString() : ""}</Text></Table.Td>
                  <Table.Td><Text size="sm" c="dimmed">{r.note}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Card>
      )}
    </Stack>
  );
}
