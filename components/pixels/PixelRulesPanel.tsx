"use client";
// A project's pixel rules (CTP DicomPixelAnonymizer style): a signature over header values and the
// rectangles to blank. Reviewers create most of them from the pixel review page; owners can also
// write one here, switch rules off, or remove them. Members read them.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ActionIcon, Alert, Badge, Button, Card, Code, Group, Stack, Switch, Table, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconTrash } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

const fmt = (r: { x: number; y: number; w: number; h: number }) => `(${r.x},${r.y},${r.w},${r.h})`;

/** "(0,0,640,40) (-100,0,100,20)" → regions, or an error message. */
export function parseRegions(text: string): { regions: { x: number; y: number; w: number; h: number }[] } | { error: string } {
  const rest = text.replace(/\(\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)/g, "").trim();
  if (rest) return { error: `Write regions as (x,y,width,height), e.g. (0,0,640,40); "${rest.slice(0, 20)}" is not one.` };
  return { regions: [...text.matchAll(/\(\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)/g)].map((m) => ({ x: +m[1]!, y: +m[2]!, w: +m[3]!, h: +m[4]! })) };
}

export function PixelRulesPanel({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const rules = useQuery(trpc.pixels.rules.queryOptions({ projectId }));
  const [signature, setSignature] = useState("");
  const [regions, setRegions] = useState("");
  const [description, setDescription] = useState("");
  const [formError, setFormError] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.pixels.rules.queryKey({ projectId }) });
  const onError = (title: string) => (e: { message: string }) => notifications.show({ color: "red", title, message: e.message });
  const create = useMutation(
    trpc.pixels.createRule.mutationOptions({
      onSuccess: async () => {
        setSignature("");
        setRegions("");
        setDescription("");
        notifications.show({ color: "teal", title: "Pixel rule added", message: "It applies to images received from now on." });
        await refresh();
      },
      onError: (e) => setFormError(e.message),
    }),
  );
  const update = useMutation(trpc.pixels.updateRule.mutationOptions({ onSuccess: refresh, onError: onError("Not changed") }));
  const remove = useMutation(trpc.pixels.removeRule.mutationOptions({ onSuccess: refresh, onError: onError("Not removed") }));
  const items = rules.data?.items ?? [];
  return (
    <Card withBorder radius="md" padding="lg" data-testid="pixel-rules">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Pixel rules</Title>
        <Text size="xs" c="dimmed">CTP DicomPixelAnonymizer style: the first matching signature wins; its regions are blanked (filled with 0).</Text>
      </Group>
      <ErrorAlert error={rules.error} title="Could not load the pixel rules" onRetry={() => void rules.refetch()} />
      <Table verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Signature</Table.Th>
            <Table.Th>Regions</Table.Th>
            <Table.Th>Note</Table.Th>
            <Table.Th>On</Table.Th>
            {isOwner && <Table.Th w={40} />}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.length === 0 && (
            <Table.Tr>
              <Table.Td colSpan={5}>
                <Text size="sm" c="dimmed">No pixel rules yet. Reviewing a held image creates one for its scanner model.</Text>
              </Table.Td>
            </Table.Tr>
          )}
          {items.map((r) => (
            <Table.Tr key={r.id}>
              <Table.Td><Code>{r.signature}</Code></Table.Td>
              <Table.Td>{r.regions.length ? <Code>{r.regions.map(fmt).join(" ")}</Code> : <Badge variant="light" color="gray">none: nothing burned in</Badge>}</Table.Td>
              <Table.Td><Text size="sm">{r.description}</Text></Table.Td>
              <Table.Td>
                <Switch checked={r.enabled} disabled={!isOwner} aria-label={`Rule ${r.signature} enabled`} onChange={(e) => update.mutate({ projectId, ruleId: r.id, enabled: e.currentTarget.checked })} />
              </Table.Td>
              {isOwner && (
                <Table.Td>
                  <Tooltip label="Remove rule">
                    <ActionIcon variant="subtle" color="red" aria-label="Remove rule" onClick={() => window.confirm("Remove this pixel rule? Images of this signature are held for review again.") && remove.mutate({ projectId, ruleId: r.id })}>
                      <IconTrash size={16} />
                    </ActionIcon>
                  </Tooltip>
                </Table.Td>
              )}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {isOwner && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setFormError(null);
            const parsed = parseRegions(regions);
            if ("error" in parsed) return setFormError(parsed.error);
            create.mutate({ projectId, signature, regions: parsed.regions, description });
          }}
        >
          <Stack gap="xs" mt="md">
            <Group align="flex-start" grow>
              <TextInput label="Signature" placeholder='Manufacturer.equals("ACME") * Rows.equals("480")' value={signature} onChange={(e) => setSignature(e.currentTarget.value)} ff="monospace" />
              <TextInput label="Regions" placeholder="(0,0,640,40) (-100,0,100,20)" value={regions} onChange={(e) => setRegions(e.currentTarget.value)} ff="monospace" />
              <TextInput label="Note" placeholder="header band" value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
            </Group>
            {formError && <Alert color="red" title="Rule not added">{formError}</Alert>}
            <Group><Button type="submit" variant="default" loading={create.isPending}>Add rule</Button></Group>
          </Stack>
        </form>
      )}
      {rules.data && items.length > 0 && (
        <details style={{ marginTop: 12 }}>
          <summary><Text span size="sm">As a CTP DicomPixelAnonymizer script</Text></summary>
          <Code block mt="xs">{rules.data.script}</Code>
        </details>
      )}
    </Card>
  );
}
