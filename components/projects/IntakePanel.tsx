"use client";
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ActionIcon, Badge, Button, Card, Code, Group, List, Modal, NumberInput, SimpleGrid, Stack, Table, TagsInput, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { IntakeLivePanel } from "./IntakeLivePanel";
import { notifications } from "@mantine/notifications";
import { IconPlugConnected, IconTrash } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { ApiTokensPanel } from "./ApiTokensPanel";
import { WebhooksPanel } from "./WebhooksPanel";
import { RoutingRulesPanel } from "./RoutingRulesPanel";
import { DeidSettingsPanel } from "./DeidSettingsPanel";
import { PixelReviewQueue } from "@/components/pixels/PixelReviewQueue";
import { PixelRulesPanel } from "@/components/pixels/PixelRulesPanel";

function Stat({ label, value, color }: { label: string; value: number; color?: string }) {
  return (
    <Card withBorder radius="md" padding="md">
      <Text size="xs" tt="uppercase" fw={600} c="dimmed">{label}</Text>
      <Text size="xl" fw={700} c={color}>{value.toLocaleString()}</Text>
    </Card>
  );
}

/** Which de-identification the project's data went through, for everyone who reads it (owners edit it below). */
function DeidSummary({ deidProfile, hasDeidScript, profileOptions }: { deidProfile: string; hasDeidScript: boolean; profileOptions: { id: string; meaning: string }[] }) {
  const chosen = deidProfile.split("+").slice(1).map((p) => p.trim().toLowerCase());
  const options = profileOptions.filter((o) => chosen.includes(o.id.toLowerCase()));
  return (
    <Card withBorder radius="md" padding="lg" data-testid="deid-summary">
      <Title order={5} mb={4}>De-identification</Title>
      {hasDeidScript ? (
        <Text size="sm">Data received by this project goes through a CTP anonymizer script the owners set, instead of a standard profile. The owners can show you what it keeps.</Text>
      ) : (
        <Stack gap={4}>
          <Text size="sm">
            Data received by this project goes through the DICOM PS3.15 Basic Application Level Confidentiality Profile (<Code>{deidProfile}</Code>)
            {options.length ? ", with these options:" : ", with no options: identifying elements are removed or replaced, UIDs remapped and dates shifted per patient."}
          </Text>
          {options.length > 0 && <List size="sm" spacing={2}>{options.map((o) => <List.Item key={o.id}>{o.meaning}</List.Item>)}</List>}
        </Stack>
      )}
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
        <SimpleGrid cols={{ base: 2, sm: 3, lg: s.instances.review > 0 ? 7 : 6 }}>
          <Stat label="Received" value={s.instances.total} />
          <Stat label="De-identified" value={s.instances.deidentified} color="teal" />
          <Stat label="In progress" value={s.instances.received} color="blue" />
          <Stat label="Duplicates" value={s.instances.duplicate} />
          <Stat label="Quarantined" value={s.instances.quarantined} color={s.instances.quarantined ? "red" : undefined} />
          {s.instances.review > 0 && <Stat label="Needs pixel review" value={s.instances.review} color="orange" />}
          <Stat label="Studies archived" value={s.studies.archived} color="green" />
        </SimpleGrid>
      )}
      {canSeeQuarantine && <PixelReviewQueue projectId={projectId} isOwner={isOwner} />}
      {s && <IntakeLivePanel projectId={projectId} live={s.live} studies={s.studies} instances={s.instances} showErrors={canSeeQuarantine} />}
      {settings.data && <WhereToSend address={settings.data.dicomAddress} aeTitles={settings.data.aeRoutes.map((r) => r.aeTitle)} siteAeTitle={settings.data.siteAeTitle} />}
      {settings.data && <AeRoutes projectId={projectId} isOwner={isOwner} routes={settings.data.aeRoutes} />}
      {isOwner && <ApiTokensPanel projectId={projectId} />}
      {isOwner && <WebhooksPanel projectId={projectId} />}
      {settings.data && canSeeQuarantine && <RoutingRulesPanel projectId={projectId} isOwner={isOwner} siteAeTitle={settings.data.siteAeTitle} />}
      {settings.data && !isOwner && (
        <DeidSummary deidProfile={settings.data.deidProfile} hasDeidScript={settings.data.hasDeidScript} profileOptions={settings.data.profileOptions} />
      )}
      {settings.data && isOwner && (
        <DeidSettingsPanel
          key={`${settings.data.deidProfile}|${settings.data.deidScript?.length ?? 0}`}
          projectId={projectId}
          deidProfile={settings.data.deidProfile}
          deidScript={settings.data.deidScript}
          profileOptions={settings.data.profileOptions}
          pendingApproval={settings.data.pendingApproval}
        />
      )}
      {canSeeQuarantine && <PixelRulesPanel projectId={projectId} isOwner={isOwner} />}
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

/** "Where do I send DICOM?": the real host, port and called AE titles, with lines to copy. */
function WhereToSend({ address, aeTitles, siteAeTitle }: { address: { host: string; port: number }; aeTitles: string[]; siteAeTitle: string }) {
  const titles = aeTitles.length ? aeTitles : [siteAeTitle];
  return (
    <Card withBorder radius="md" padding="lg" data-testid="where-to-send">
      <Title order={5} mb="xs">Where do I send DICOM?</Title>
      {address.port === 0 ? (
        <Text size="sm">The DICOM listener is off on this site (ATRIUM_DICOM_PORT=0). Use Upload, STOW-RS or a webhook instead.</Text>
      ) : (
        <Stack gap="xs">
          <Text size="sm">
            Host <Code>{address.host}</Code>, port <Code>{address.port}</Code>, called AE title{titles.length > 1 ? "s" : ""} {titles.map((t) => <Code key={t} mr={4}>{t}</Code>)}
            {aeTitles.length === 0 && <Text span size="sm" c="dimmed"> (the site AE title: instances reach this project only through its routing rules)</Text>}
          </Text>
          {titles.map((t) => (
            <Stack key={t} gap={4}>
              <Code block>{`storescu -aec ${t} ${address.host} ${address.port} FILES…\ndcmsend -aec ${t} ${address.host} ${address.port} FILES…`}</Code>
              <Code block>{`// Orthanc configuration: "DicomModalities"\n"${t.toLowerCase()}" : [ "${t}", "${address.host}", ${address.port} ]`}</Code>
            </Stack>
          ))}
          <Text size="xs" c="dimmed">In a PACS, add a DICOM node with AE title, host and port as above. During a burst, de-identification runs after the instances are stored: senders are not kept waiting.</Text>
        </Stack>
      )}
    </Card>
  );
}

type Route = { aeTitle: string; allowedCallingAes: string[]; allowedAddresses: string[] };

function AeRoutes({ projectId, isOwner, routes }: { projectId: string; isOwner: boolean; routes: Route[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [aeTitle, setAeTitle] = useState("");
  const [callers, setCallers] = useState<string[]>([]);
  const [removing, setRemoving] = useState<Route | null>(null);
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
      onSuccess: async (_r, v) => {
        setRemoving(null);
        notifications.show({ color: "teal", title: "AE title removed", message: `${v.aeTitle} no longer accepts instances for this project.` });
        await refresh();
      },
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
                    <ActionIcon variant="subtle" color="red" aria-label={`Remove ${r.aeTitle}`} onClick={() => setRemoving(r)}>
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
            <TextInput
              label="Called AE title"
              description="Up to 16 characters, no spaces or backslash"
              placeholder="BRAIN_MRI"
              value={aeTitle}
              onChange={(e) => setAeTitle(e.currentTarget.value)}
              error={add.error?.message.replace(/^aeTitle: /, "")}
              w={260}
            />
            <TagsInput label="Allowed calling AE titles" description="Empty: any caller" value={callers} onChange={setCallers} flex={1} />
            <Button type="submit" mt={46} loading={add.isPending} leftSection={<IconPlugConnected size={16} />}>Add route</Button>
          </Group>
        </form>
      )}
      <Modal opened={removing !== null} onClose={() => setRemoving(null)} title={<Text fw={600}>Remove the AE title {removing?.aeTitle}?</Text>} centered>
        <Stack gap="sm" data-testid="remove-ae-confirm">
          <Text size="sm">What stops when you remove it:</Text>
          <List size="sm" spacing={4}>
            <List.Item>
              Scanners and PACS sending to <Code>{removing?.aeTitle}</Code>
              {removing?.allowedCallingAes.length ? <> (allowed callers: {removing.allowedCallingAes.join(", ")})</> : null} are refused from now on:
              their association is rejected with &quot;called AE title not recognized&quot;, so they keep the images and may retry or report errors.
            </List.Item>
            <List.Item>An association already open may deliver for a few more seconds.</List.Item>
          </List>
          <Text size="sm">Instances already received stay in the project. You can add the AE title again later.</Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setRemoving(null)}>Keep it</Button>
            <Button color="red" loading={remove.isPending} onClick={() => removing && remove.mutate({ projectId, aeTitle: removing.aeTitle })}>Remove AE title</Button>
          </Group>
        </Stack>
      </Modal>
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
