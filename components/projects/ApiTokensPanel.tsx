"use client";
import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ActionIcon, Alert, Badge, Button, Card, Checkbox, Code, CopyButton, Group, Modal, NumberInput, Stack, Table, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconCheck, IconCopy, IconKey, IconTrash } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { SCOPE_LABEL, TOKEN_SCOPES, type TokenScope } from "@/lib/tokens/scopes";

function when(d: Date | string | null | undefined): string {
  return d ? new Date(d).toLocaleString() : "never";
}

function CopyField({ value, label }: { value: string; label: string }) {
  return (
    <Group gap="xs" wrap="nowrap" align="flex-start">
      <Code block style={{ flex: 1, whiteSpace: "pre-wrap", wordBreak: "break-all" }}>{value}</Code>
      <CopyButton value={value} timeout={2000}>
        {({ copied, copy }) => (
          <Tooltip label={copied ? "Copied" : `Copy ${label}`}>
            <ActionIcon variant="light" color={copied ? "teal" : "blue"} onClick={copy} aria-label={`Copy ${label}`}>
              {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
            </ActionIcon>
          </Tooltip>
        )}
      </CopyButton>
    </Group>
  );
}

/** Example commands for a freshly created token (STOW-RS with curl, Orthanc's DICOMweb client). */
export function stowExamples(origin: string, token: string) {
  const curl = [
    `B=atrium$RANDOM; { printf -- "--$B\\r\\nContent-Type: application/dicom\\r\\n\\r\\n"; cat image.dcm; printf -- "\\r\\n--$B--\\r\\n"; } |`,
    `  curl -sS -X POST --data-binary @- \\`,
    `    -H "Authorization: Bearer ${token}" \\`,
    `    -H "Content-Type: multipart/related; type=\\"application/dicom\\"; boundary=$B" \\`,
    `    ${origin}/dicomweb/studies`,
  ].join("\n");
  const orthanc = JSON.stringify({ DicomWeb: { Servers: { atrium: { Url: `${origin}/dicomweb/`, HttpHeaders: { Authorization: `Bearer ${token}` } } } } }, null, 2);
  return { curl, orthanc };
}

function NewToken({ token, scopes, onDone }: { token: string; scopes: string[]; onDone: () => void }) {
  const [origin, setOrigin] = useState("https://atrium.example.org");
  useEffect(() => setOrigin(window.location.origin), []);
  const ex = stowExamples(origin, token);
  return (
    <Alert color="teal" icon={<IconKey size={18} />} title="Copy this token now: it will not be shown again" data-testid="new-token">
      <Stack gap="sm">
        <CopyField value={token} label="token" />
        {scopes.includes("stow") && (
          <>
            <Text size="sm">Send a DICOM file with curl (STOW-RS; the token decides the project):</Text>
            <CopyField value={ex.curl} label="curl command" />
            <Text size="sm">Or let Orthanc send studies (its DICOMweb plugin configuration, then <Code>POST /dicom-web/servers/atrium/stow</Code>):</Text>
            <CopyField value={ex.orthanc} label="Orthanc configuration" />
          </>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onDone}>I have copied it</Button>
        </Group>
      </Stack>
    </Alert>
  );
}

export function ApiTokensPanel({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.token.list.queryOptions({ projectId }));
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["stow"]);
  const [days, setDays] = useState<number | string>("");
  const [created, setCreated] = useState<{ token: string; scopes: string[] } | null>(null);
  const [revoking, setRevoking] = useState<{ id: string; name: string; prefix: string } | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.token.list.queryKey({ projectId }) });
  const create = useMutation(
    trpc.token.create.mutationOptions({
      onSuccess: async (r) => {
        setCreated({ token: r.token, scopes: r.scopes });
        setName("");
        setDays("");
        await refresh();
      },
    }),
  );
  const revoke = useMutation(
    trpc.token.revoke.mutationOptions({
      onSuccess: async () => {
        notifications.show({ color: "teal", title: "Token revoked", message: "Senders using it are refused from now on." });
        setRevoking(null);
        await refresh();
      },
      onError: (e) => notifications.show({ color: "red", title: "Not revoked", message: e.message }),
    }),
  );
  const now = Date.now();
  return (
    <Card withBorder radius="md" padding="lg">
      <Group justify="space-between" mb="sm">
        <Title order={5}>API tokens</Title>
        <Text size="xs" c="dimmed">For machines: STOW-RS senders (<Code>POST /dicomweb/studies</Code>) and DICOMweb readers.</Text>
      </Group>
      <ErrorAlert error={tokens.error} title="Could not load the tokens" onRetry={() => void tokens.refetch()} />
      {created && <NewToken token={created.token} scopes={created.scopes} onDone={() => setCreated(null)} />}
      <Table verticalSpacing="xs" mt={created ? "md" : 0}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Token</Table.Th>
            <Table.Th>Scopes</Table.Th>
            <Table.Th>Created</Table.Th>
            <Table.Th>Last used</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th w={50} />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tokens.data?.length === 0 && (
            <Table.Tr>
              <Table.Td colSpan={7}><Text size="sm" c="dimmed">No API tokens yet: create one below for each sender.</Text></Table.Td>
            </Table.Tr>
          )}
          {tokens.data?.map((t) => {
            const expired = t.expiresAt && new Date(t.expiresAt).getTime() <= now;
            return (
              <Table.Tr key={t.id} c={t.revokedAt || expired ? "dimmed" : undefined}>
                <Table.Td>{t.name}</Table.Td>
                <Table.Td><Code>{t.prefix}…</Code></Table.Td>
                <Table.Td>{t.scopes.map((s) => <Badge key={s} variant="outline" mr={4}>{s}</Badge>)}</Table.Td>
                <Table.Td><Text size="sm">{when(t.createdAt)}</Text>{t.createdBy && <Text size="xs" c="dimmed">by {t.createdBy}</Text>}</Table.Td>
                <Table.Td><Text size="sm">{when(t.lastUsedAt)}</Text></Table.Td>
                <Table.Td>
                  {t.revokedAt ? (
                    <Tooltip label={`Revoked ${when(t.revokedAt)}`}><Badge color="red" variant="light">revoked</Badge></Tooltip>
                  ) : expired ? (
                    <Badge color="orange" variant="light">expired</Badge>
                  ) : (
                    <Tooltip label={t.expiresAt ? `Expires ${when(t.expiresAt)}` : "Works until revoked"}><Badge color="teal" variant="light">active</Badge></Tooltip>
                  )}
                </Table.Td>
                <Table.Td>
                  {!t.revokedAt && (
                    <Tooltip label="Revoke token">
                      <ActionIcon variant="subtle" color="red" aria-label={`Revoke ${t.name}`} onClick={() => setRevoking({ id: t.id, name: t.name, prefix: t.prefix })}>
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  )}
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({ projectId, name, scopes: scopes as TokenScope[], ...(days === "" ? {} : { expiresInDays: Number(days) }) });
        }}
      >
        <Group mt="md" align="flex-start">
          <TextInput label="Token name" placeholder="CT scanner 2" value={name} onChange={(e) => setName(e.currentTarget.value)} error={create.error?.message} w={240} />
          <Checkbox.Group label="Scopes" value={scopes} onChange={setScopes}>
            <Group mt={8}>
              {TOKEN_SCOPES.map((s) => <Checkbox key={s} value={s} label={SCOPE_LABEL[s]} />)}
            </Group>
          </Checkbox.Group>
          <NumberInput label="Expires after (days)" placeholder="never" value={days} onChange={setDays} min={1} max={3650} w={170} />
          <Button type="submit" mt={24} loading={create.isPending} leftSection={<IconKey size={16} />}>Create token</Button>
        </Group>
      </form>
      <Modal opened={revoking !== null} onClose={() => setRevoking(null)} title="Revoke API token?" centered>
        <Stack>
          <Text size="sm">
            Senders using <b>{revoking?.name}</b> (<Code>{revoking?.prefix}…</Code>) will be refused from now on. This cannot be undone; create a new token if needed.
          </Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setRevoking(null)}>Cancel</Button>
            <Button color="red" loading={revoke.isPending} onClick={() => revoking && revoke.mutate({ projectId, tokenId: revoking.id })}>Revoke</Button>
          </Group>
        </Stack>
      </Modal>
    </Card>
  );
}
