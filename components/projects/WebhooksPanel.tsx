"use client";
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  ActionIcon, Alert, Badge, Button, Card, Code, CopyButton, Group, Modal, PasswordInput, SegmentedControl, Select, Stack, Switch, Table, Tabs, Text, TextInput, Title, Tooltip,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconCheck, IconCopy, IconKey, IconTrash, IconWebhook } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { curlExample, orthancLuaExample } from "@/lib/webhooks/examples";

type Kind = "orthanc" | "dicomweb";
type Auth = "none" | "basic" | "bearer";
interface Revealed { id: string; path: string; secret: string; nodeKind: Kind; rotated: boolean }

const statusColor = { accepted: "gray", pulling: "blue", done: "teal", failed: "red" } as const;

function Copy({ value, label }: { value: string; label: string }) {
  return (
    <CopyButton value={value}>
      {({ copied, copy }) => (
        <Tooltip label={copied ? "Copied" : `Copy ${label}`}>
          <ActionIcon variant="subtle" color={copied ? "teal" : "gray"} onClick={copy} aria-label={`Copy ${label}`}>
            {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
          </ActionIcon>
        </Tooltip>
      )}
    </CopyButton>
  );
}

function SecretModal({ revealed, onClose }: { revealed: Revealed | null; onClose: () => void }) {
  if (!revealed) return null;
  const url = `${window.location.origin}${revealed.path}`;
  const ex = { url, secret: revealed.secret, nodeKind: revealed.nodeKind };
  const curl = curlExample(ex);
  const lua = orthancLuaExample(ex);
  return (
    <Modal opened onClose={onClose} size="xl" title={<Text fw={600}>{revealed.rotated ? "New signing secret" : "Webhook source created"}</Text>}>
      <Stack gap="sm">
        <Alert color="yellow" title="Copy the secret now">
          It is shown only this once. {revealed.rotated ? "The previous secret no longer works." : ""} If it is lost, rotate it.
        </Alert>
        <Group gap="xs" wrap="nowrap"><Text size="sm" w={70}>URL</Text><Code style={{ flex: 1 }}>{url}</Code><Copy value={url} label="URL" /></Group>
        <Group gap="xs" wrap="nowrap"><Text size="sm" w={70}>Secret</Text><Code style={{ flex: 1 }} data-testid="webhook-secret">{revealed.secret}</Code><Copy value={revealed.secret} label="secret" /></Group>
        <Text size="sm" c="dimmed">
          Each request carries <Code>X-Atrium-Timestamp</Code> (unix seconds) and <Code>X-Atrium-Signature: sha256=&lt;hex HMAC-SHA256(secret, timestamp + &quot;.&quot; + body)&gt;</Code>.
          Requests older than 5 minutes and replays are refused.
        </Text>
        <Tabs defaultValue="lua">
          <Tabs.List>
            <Tabs.Tab value="lua">Orthanc (Lua)</Tabs.Tab>
            <Tabs.Tab value="curl">curl</Tabs.Tab>
          </Tabs.List>
          <Tabs.Panel value="lua" pt="xs">
            <Group justify="space-between"><Text size="xs" c="dimmed">Save as atrium.lua and list it in orthanc.json: &quot;LuaScripts&quot;: [&quot;atrium.lua&quot;]</Text><Copy value={lua} label="Lua script" /></Group>
            <Code block mah={260} style={{ overflow: "auto" }}>{lua}</Code>
          </Tabs.Panel>
          <Tabs.Panel value="curl" pt="xs">
            <Group justify="space-between"><Text size="xs" c="dimmed">Needs curl and openssl; replace the study placeholder.</Text><Copy value={curl} label="curl command" /></Group>
            <Code block>{curl}</Code>
          </Tabs.Panel>
        </Tabs>
        <Group justify="flex-end"><Button onClick={onClose}>I have copied it</Button></Group>
      </Stack>
    </Modal>
  );
}

export function WebhooksPanel({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.webhook.list.queryOptions({ projectId }, { refetchInterval: 5_000 }));
  const [revealed, setRevealed] = useState<Revealed | null>(null);
  const [name, setName] = useState("");
  const [nodeKind, setNodeKind] = useState<Kind>("orthanc");
  const [nodeUrl, setNodeUrl] = useState("");
  const [nodeAuth, setNodeAuth] = useState<Auth>("none");
  const [nodeUser, setNodeUser] = useState("");
  const [nodeSecret, setNodeSecret] = useState("");
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.webhook.list.queryKey({ projectId }) });
  const onError = (title: string) => (e: { message: string }) => notifications.show({ color: "red", title, message: e.message });

  const create = useMutation(
    trpc.webhook.create.mutationOptions({
      onSuccess: async (r) => {
        setRevealed({ ...r, rotated: false });
        setName("");
        setNodeUrl("");
        setNodeUser("");
        setNodeSecret("");
        await refresh();
      },
    }),
  );
  const rotate = useMutation(trpc.webhook.rotateSecret.mutationOptions({ onSuccess: (r) => setRevealed({ ...r, rotated: true }), onError: onError("Secret not rotated") }));
  const setEnabled = useMutation(trpc.webhook.setEnabled.mutationOptions({ onSuccess: refresh, onError: onError("Not changed") }));
  const remove = useMutation(trpc.webhook.remove.mutationOptions({ onSuccess: refresh, onError: onError("Not deleted") }));
  const fieldError = (path: string) => create.error?.data?.fieldErrors?.find((f) => f.path === path)?.message;

  return (
    <Card withBorder radius="md" padding="lg">
      <SecretModal revealed={revealed} onClose={() => setRevealed(null)} />
      <Group justify="space-between" mb="sm">
        <Title order={5}>Webhooks from scanners and PACS</Title>
        <Text size="xs" c="dimmed">A signed webhook names a study; Atrium pulls it from the source&apos;s node into this project.</Text>
      </Group>
      <ErrorAlert error={list.error} title="Could not load webhook sources" onRetry={() => void list.refetch()} />
      <Table verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Source</Table.Th>
            <Table.Th>Pulls from</Table.Th>
            <Table.Th>Last delivery</Table.Th>
            <Table.Th w={90}>Enabled</Table.Th>
            <Table.Th w={80} />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {list.data?.length === 0 && (
            <Table.Tr><Table.Td colSpan={5}><Text size="sm" c="dimmed">No webhook sources yet: add one below.</Text></Table.Td></Table.Tr>
          )}
          {list.data?.map((s) => {
            const last = s.recentDeliveries[0];
            return (
              <Table.Tr key={s.id}>
                <Table.Td>
                  <Text size="sm" fw={500}>{s.name}</Text>
                  <Group gap={4} wrap="nowrap"><Code>{s.path}</Code><Copy value={`${typeof window === "undefined" ? "" : window.location.origin}${s.path}`} label="webhook URL" /></Group>
                </Table.Td>
                <Table.Td>
                  <Badge variant="light" color={s.nodeKind === "orthanc" ? "grape" : "indigo"} mr={6}>{s.nodeKind === "orthanc" ? "Orthanc REST" : "DICOMweb"}</Badge>
                  <Text span size="sm" ff="monospace">{s.nodeUrl}</Text>
                  {s.nodeAuth !== "none" && <Text size="xs" c="dimmed">{s.nodeAuth === "basic" ? `basic auth as ${s.nodeUser}` : "bearer token"}</Text>}
                </Table.Td>
                <Table.Td>
                  {last ? (
                    <Stack gap={2}>
                      <Group gap={6}>
                        <Badge color={statusColor[last.status]} variant="light">{last.status}</Badge>
                        <Text size="sm">{last.instancesPulled}{last.instancesListed !== null ? ` of ${last.instancesListed}` : ""} pulled{last.instancesFailed ? `, ${last.instancesFailed} failed` : ""}</Text>
                      </Group>
                      <Text size="xs" c="dimmed">{new Date(last.receivedAt).toLocaleString()} · {s.deliveryCount} deliver{s.deliveryCount === 1 ? "y" : "ies"}</Text>
                      {last.error && <Text size="xs" c="red">{last.error}</Text>}
                    </Stack>
                  ) : (
                    <Text size="sm" c="dimmed">none yet</Text>
                  )}
                </Table.Td>
                <Table.Td>
                  <Switch checked={s.enabled} aria-label={`${s.enabled ? "Disable" : "Enable"} ${s.name}`} onChange={(e) => setEnabled.mutate({ projectId, sourceId: s.id, enabled: e.currentTarget.checked })} />
                </Table.Td>
                <Table.Td>
                  <Group gap={2} wrap="nowrap">
                    <Tooltip label="Rotate secret">
                      <ActionIcon variant="subtle" aria-label={`Rotate the secret of ${s.name}`} onClick={() => rotate.mutate({ projectId, sourceId: s.id })}><IconKey size={16} /></ActionIcon>
                    </Tooltip>
                    <Tooltip label="Delete source">
                      <ActionIcon
                        variant="subtle"
                        color="red"
                        aria-label={`Delete ${s.name}`}
                        onClick={() => window.confirm(`Delete the webhook source ${s.name}? Its URL stops working; instances already received stay.`) && remove.mutate({ projectId, sourceId: s.id })}
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  </Group>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({ projectId, name, nodeKind, nodeUrl, nodeAuth, nodeUser: nodeUser || undefined, nodeSecret: nodeSecret || undefined });
        }}
      >
        <Stack gap="xs" mt="md">
          <Group align="flex-start" grow>
            <TextInput label="Name" placeholder="MR scanner 3T / research PACS" value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError("name")} />
            <Stack gap={4}>
              <Text size="sm" fw={500}>Pull with</Text>
              <SegmentedControl value={nodeKind} onChange={(v) => setNodeKind(v as Kind)} data={[{ value: "orthanc", label: "Orthanc REST" }, { value: "dicomweb", label: "DICOMweb (WADO-RS)" }]} />
            </Stack>
          </Group>
          <Group align="flex-start" grow>
            <TextInput
              label={nodeKind === "orthanc" ? "Orthanc URL" : "DICOMweb root URL"}
              placeholder={nodeKind === "orthanc" ? "http://orthanc:8042" : "http://orthanc:8042/dicom-web"}
              value={nodeUrl}
              onChange={(e) => setNodeUrl(e.currentTarget.value)}
              description="No user, password, query or fragment. Addresses on this machine or a private network need the site admin's allow-list."
              error={fieldError("nodeUrl")}
            />
            <Select
              label="Node credentials"
              data={[{ value: "none", label: "None" }, { value: "basic", label: "User and password" }, { value: "bearer", label: "Bearer token" }]}
              value={nodeAuth}
              allowDeselect={false}
              onChange={(v) => v && setNodeAuth(v as Auth)}
            />
          </Group>
          {nodeAuth !== "none" && (
            <Group align="flex-start" grow>
              {nodeAuth === "basic" && <TextInput label="User" value={nodeUser} onChange={(e) => setNodeUser(e.currentTarget.value)} error={fieldError("nodeUser")} />}
              <PasswordInput label={nodeAuth === "basic" ? "Password" : "Token"} description="Stored encrypted" value={nodeSecret} onChange={(e) => setNodeSecret(e.currentTarget.value)} error={fieldError("nodeSecret")} />
            </Group>
          )}
          {create.error && !create.error.data?.fieldErrors?.length && <ErrorAlert error={create.error} title="Not created" />}
          <Group justify="flex-end">
            <Button type="submit" loading={create.isPending} leftSection={<IconWebhook size={16} />}>Add webhook source</Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}
