"use client";
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ActionIcon, Badge, Button, Card, Code, Group, NumberInput, SimpleGrid, Stack, Table, TagsInput, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { IntakeLivePanel } from "./IntakeLivePanel";
import { notifications } from "@mantine/notifications";
import { IconPlugConnected, IconTrash } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { ApiTokensPanel } from "./ApiTokensPanel";
import { WebhooksPanel } from "./WebhooksPanel";
import { RoutingRulesPanel } from "./RoutingRulesPanel";
import { DeidSettingsPanel } from "./DeidSettingsPanel";

function Stat({ label, value, color }: { label: string; value: number; color?: string }) {
  return (
    <Card withBorder radius="md" padding="md">
      <Text size="xs" tt="uppercase" fw={600} c="dimmed">{label}</Text>
      <Text size="xl" fw={700} c={color}>{value.toLocaleString()}</Text>
    </Card>
  );
}

export function IntakePanel({ projectId, isOwner, canSeeQuarantine }: { projectId: string; isOwner: boolean; canSeeQuarantine: boolean }) {
  const trpc = useTRPC();
  const summary = useQuery(trpc.intake.summary.queryOptions({ projectId }, { refetchInterval: 5_000 }));
  const settings = useQuery(trpc.intake.settings.queryOptions({ projectId }));
  const s = summary.data;
  return (
    <Stack gap="lg">
      <ErrorAlert error={summary.error ?? settings.error} title="Could not load intake" onRetry={() => void summary.refetch()} />
      {s && (
        <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }}>
          <Stat label="Received" value={s.instances.total} />
          <Stat label="De-identified" value={s.instances.deidentified} color="teal" />
          <Stat label="In progress" value={s.instances.received} color="blue" />
          <Stat label="Duplicates" value={s.instances.duplicate} />
          <Stat label="Quarantined" value={s.instances.quarantined} color={s.instances.quarantined ? "red" : undefined} />
          <Stat label="Studies archived" value={s.studies.archived} color="green" />
        </SimpleGrid>
      )}
      {s && <IntakeLivePanel live={s.live} studies={s.studies} showErrors={canSeeQuarantine} />}
      {settings.data && <AeRoutes projectId={projectId} isOwner={isOwner} routes={settings.data.aeRoutes} />}
      {isOwner && <ApiTokensPanel projectId={projectId} />}
      {isOwner && <WebhooksPanel projectId={projectId} />}
      {settings.data && canSeeQuarantine && <RoutingRulesPanel projectId={projectId} isOwner={isOwner} siteAeTitle={settings.data.siteAeTitle} />}
      {settings.data && isOwner && (
        <DeidSettingsPanel
          key={`${settings.data.deidProfile}|${settings.data.deidScript?.length ?? 0}`}
          projectId={projectId}
          deidProfile={settings.data.deidProfile}
          deidScript={settings.data.deidScript}
          profileOptions={settings.data.profileOptions}
        />
      )}
      {settings.data && isOwner && <IntakeSettings projectId={projectId} stableAfterSeconds={settings.data.stableAfterSeconds} />}
      {canSeeQuarantine && s && s.quarantineReasons.length > 0 && (
        <Card withBorder radius="md" padding="lg">
          <Title order={5} mb="sm">Quarantine reasons <Text span size="sm" c="dimmed" fw={400}>(details and actions in the Quarantine tab)</Text></Title>
          <Table>
            <Table.Tbody>
              {s.quarantineReasons.map((r) => (
                <Table.Tr key={r.reason}>
                  <Table.Td w={80}><Badge color="red" variant="light">{r.count}</Badge></Table.Td>
                  <Table.Td><Text size="sm">{r.reason}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Card>
      )}
    </Stack>
  );
}

type Route = { aeTitle: string; allowedCallingAes: string[]; allowedAddresses: string[] };

function AeRoutes({ projectId, isOwner, routes }: { projectId: string; isOwner: boolean; routes: Route[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [aeTitle, setAeTitle] = useState("");
  const [callers, setCallers] = useState<string[]>([]);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.intake.settings.queryKey({ projectId }) });
  const add = useMutation(
    trpc.intake.addAeRoute.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: "AE title added", message: `Scanners can now send to ${r.aeTitle}.` });
        setAeTitle("");
        setCallers([]);
        await refresh();
      },
    }),
  );
  const remove = useMutation(
    trpc.intake.removeAeRoute.mutationOptions({
      onSuccess: refresh,
      onError: (e) => notifications.show({ color: "red", title: "Not removed", message: e.message }),
    }),
  );
  return (
    <Card withBorder radius="md" padding="lg">
      <Group justify="space-between" mb="sm">
        <Title order={5}>DICOM (C-STORE) routes</Title>
        <Text size="xs" c="dimmed">Send to this server&apos;s DICOM port with one of these called AE titles.</Text>
      </Group>
      <Table verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Called AE title</Table.Th>
            <Table.Th>Allowed callers</Table.Th>
            <Table.Th>Allowed addresses</Table.Th>
            {isOwner && <Table.Th w={50} />}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {routes.length === 0 && (
            <Table.Tr>
              <Table.Td colSpan={4}><Text size="sm" c="dimmed">No AE title routes here yet{isOwner ? ": add one below." : "."}</Text></Table.Td>
            </Table.Tr>
          )}
          {routes.map((r) => (
            <Table.Tr key={r.aeTitle}>
              <Table.Td><Code>{r.aeTitle}</Code></Table.Td>
              <Table.Td>{r.allowedCallingAes.length ? r.allowedCallingAes.map((a) => <Badge key={a} variant="outline" mr={4}>{a}</Badge>) : <Text size="sm" c="dimmed">any</Text>}</Table.Td>
              <Table.Td>{r.allowedAddresses.length ? r.allowedAddresses.join(", ") : <Text size="sm" c="dimmed">any</Text>}</Table.Td>
              {isOwner && (
                <Table.Td>
                  <Tooltip label="Remove route">
                    <ActionIcon variant="subtle" color="red" aria-label={`Remove ${r.aeTitle}`} onClick={() => remove.mutate({ projectId, aeTitle: r.aeTitle })}>
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
        <form onSubmit={(e) => { e.preventDefault(); add.mutate({ projectId, aeTitle, allowedCallingAes: callers }); }}>
          <Group mt="md" align="flex-start">
            <TextInput label="Called AE title" placeholder="BRAIN_MRI" value={aeTitle} onChange={(e) => setAeTitle(e.currentTarget.value)} error={add.error?.message} w={220} />
            <TagsInput label="Allowed calling AE titles" description="Empty: any caller" value={callers} onChange={setCallers} flex={1} />
            <Button type="submit" mt={24} loading={add.isPending} leftSection={<IconPlugConnected size={16} />}>Add route</Button>
          </Group>
        </form>
      )}
    </Card>
  );
}

function IntakeSettings({ projectId, stableAfterSeconds }: { projectId: string; stableAfterSeconds: number }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [stable, setStable] = useState<number | string>(stableAfterSeconds);
  const update = useMutation(
    trpc.intake.updateSettings.mutationOptions({
      onSuccess: async () => {
        notifications.show({ color: "teal", title: "Saved", message: "Intake settings updated." });
        await queryClient.invalidateQueries({ queryKey: trpc.intake.settings.queryKey({ projectId }) });
      },
    }),
  );
  return (
    <Card withBorder radius="md" padding="lg">
      <form onSubmit={(e) => { e.preventDefault(); update.mutate({ projectId, stableAfterSeconds: Number(stable) }); }}>
        <Group align="flex-end">
          <NumberInput
            label="A study is stable after (seconds without a new instance)"
            value={stable}
            onChange={setStable}
            min={5}
            max={86400}
            w={360}
            error={update.error?.message}
          />
          <Button type="submit" variant="default" loading={update.isPending}>Save</Button>
        </Group>
      </form>
    </Card>
  );
}
