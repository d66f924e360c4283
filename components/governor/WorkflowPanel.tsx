"use client";
// The project's Workflow tab (issue #16): the progress board (a column per state with its live
// count and the experiments in it), the workflow's versions, and the import of a workflow file
// (owners) with what was refused shown by line.
import { useState } from "react";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Anchor, Badge, Button, Card, Checkbox, FileButton, Group, List, Menu, Modal, ScrollArea, Select, Stack, Table, Text, Textarea, TextInput, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle, IconDownload, IconFileImport, IconPlayerPause, IconRoute, IconSearch } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { saveBlob } from "@/components/projects/download-client";
import { CompletenessPanel } from "./CompletenessPanel";

export function inState(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function ImportWorkflow({ projectId, opened, onClose }: { projectId: string; opened: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [source, setSource] = useState("");
  const [fileName, setFileName] = useState<string | null>(null);
  const [adopt, setAdopt] = useState(true);
  const imp = useMutation(
    trpc.governor.importWorkflow.mutationOptions({
      onSuccess: async (r) => {
        if (!r.ok) return;
        notifications.show({ color: "teal", title: "Workflow imported", message: `${r.workflow.label} is version ${r.workflow.version}${r.adopted ? `; ${r.adopted} experiment(s) started` : ""}.` });
        await qc.invalidateQueries({ queryKey: trpc.governor.pathKey() });
        if (!r.workflow.warnings.length) {
          setSource("");
          onClose();
        }
      },
    }),
  );
  const result = imp.data;
  return (
    <Modal opened={opened} onClose={onClose} title="Import a workflow" size="xl">
      <Stack>
        <Text size="sm" c="dimmed">
          A Study Governor workflow file (v8 or pre-6) imports as it is; Atrium&apos;s own format is a superset. The file becomes the project&apos;s new version: experiments already in a workflow keep theirs.
        </Text>
        <Group>
          <FileButton onChange={async (f) => { if (!f) return; setFileName(f.name); setSource(await f.text()); imp.reset(); }} accept=".yaml,.yml,.json,text/yaml">
            {(props) => <Button variant="default" leftSection={<IconFileImport size={16} />} {...props}>Choose a file…</Button>}
          </FileButton>
          {fileName && <Text size="sm" ff="monospace">{fileName}</Text>}
        </Group>
        <Textarea label="Workflow (YAML)" aria-label="Workflow (YAML)" value={source} onChange={(e) => { setSource(e.currentTarget.value); imp.reset(); }} autosize minRows={10} maxRows={22} styles={{ input: { fontFamily: "monospace", fontSize: 12 } }} />
        <Checkbox label="Start the project's archived experiments that are in no workflow yet" checked={adopt} onChange={(e) => setAdopt(e.currentTarget.checked)} />
        {result && !result.ok && (
          <Alert color="red" icon={<IconAlertTriangle size={16} />} title="Not imported: nothing was changed">
            <List size="sm" spacing={4}>
              {result.problems.map((p, i) => (
                <List.Item key={i}><Text span ff="monospace" size="sm">{p.line ? `line ${p.line}` : "file"}</Text>: {p.message}</List.Item>
              ))}
            </List>
            <Text size="sm" mt="xs">Fix these lines and import again.</Text>
          </Alert>
        )}
        {result && result.ok && result.workflow.warnings.length > 0 && (
          <Alert color="yellow" title={`Imported as version ${result.workflow.version}, with warnings`}>
            <List size="sm">{result.workflow.warnings.map((w, i) => <List.Item key={i}>{w.line ? `line ${w.line}: ` : ""}{w.message}</List.Item>)}</List>
          </Alert>
        )}
        {imp.error && <ErrorAlert error={imp.error} title="Import failed" />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Close</Button>
          <Button onClick={() => imp.mutate({ projectId, source, adopt })} loading={imp.isPending} disabled={!source.trim()}>Import</Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** The study export: one row per visit with its state, variables, pipeline values and task answers. */
function StudyExport({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState<"csv" | "json" | null>(null);
  const download = async (format: "csv" | "json") => {
    setBusy(format);
    try {
      const f = await queryClient.fetchQuery(trpc.governor.export.queryOptions({ projectId, format }, { staleTime: 0 }));
      saveBlob(new Blob([f.body], { type: f.contentType }), f.filename);
      notifications.show({ title: "Study export", message: `${f.rows} visit(s) exported as ${format.toUpperCase()}.` });
    } catch (e) {
      notifications.show({ color: "red", title: "Export failed", message: `${e instanceof Error ? e.message : String(e)} Try again; if it persists, the server log says why.` });
    } finally {
      setBusy(null);
    }
  };
  return (
    <Menu position="bottom-end">
      <Menu.Target>
        <Button variant="default" leftSection={<IconDownload size={16} />} loading={busy !== null}>Study export</Button>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>Per subject and visit: state, variables, pipeline values, task answers</Menu.Label>
        <Menu.Item onClick={() => void download("csv")}>CSV</Menu.Item>
        <Menu.Item onClick={() => void download("json")}>JSON (with data dictionary)</Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

/** Owners move the experiments of earlier versions to the active one, after a preview of where each group lands. */
function MigrateExperiments({ projectId, opened, onClose }: { projectId: string; opened: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [choices, setChoices] = useState<Record<string, string>>({});
  const preview = useQuery({ ...trpc.governor.migrationPreview.queryOptions({ projectId, choices }), enabled: opened, placeholderData: (prev) => prev });
  const migrate = useMutation(
    trpc.governor.migrate.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: "Experiments migrated", message: `${r.migrated} experiment(s) moved: ${r.kept} kept their state, ${r.entered} entered a state${r.skipped ? `; ${r.skipped} moved meanwhile and stayed (migrate again)` : ""}.` });
        await qc.invalidateQueries({ queryKey: trpc.governor.pathKey() });
        onClose();
      },
    }),
  );
  const p = preview.data;
  return (
    <Modal opened={opened} onClose={onClose} title="Migrate experiments to the active version" size="xl">
      <Stack>
        {preview.error && <ErrorAlert error={preview.error} title="Cannot preview the migration" />}
        {p && (
          <>
            <Text size="sm">
              {p.total} experiment(s) run on earlier versions. After the migration they follow <Text span ff="monospace">{p.target.label}</Text> version {p.target.version}. An experiment whose state the new version has keeps it (its open callbacks go on); the others enter the state shown, and its callbacks run. Each move is written to the history and the audit log.
            </Text>
            <Table withTableBorder fz="sm" data-testid="migration-preview">
              <Table.Thead><Table.Tr><Table.Th>From</Table.Th><Table.Th>State</Table.Th><Table.Th>Experiments</Table.Th><Table.Th>Lands in</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {p.groups.map((g) => (
                  <Table.Tr key={g.key}>
                    <Table.Td ff="monospace">{g.from.label} v{g.from.version}</Table.Td>
                    <Table.Td ff="monospace">{g.state ?? "(not started)"}</Table.Td>
                    <Table.Td>{g.count}</Table.Td>
                    <Table.Td>
                      <Select
                        aria-label={`Where experiments in ${g.state ?? "no state"} of version ${g.from.version} land`}
                        size="xs"
                        data={p.target.states}
                        value={g.landing.state}
                        onChange={(v) => v && setChoices((c) => ({ ...c, [g.key]: v }))}
                        allowDeselect={false}
                      />
                      <Text size="xs" c="dimmed" mt={2}>{g.describe}</Text>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </>
        )}
        {migrate.error && <ErrorAlert error={migrate.error} title="Not migrated" />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Cancel</Button>
          <Button disabled={!p || p.total === 0 || preview.isFetching} loading={migrate.isPending} onClick={() => p && migrate.mutate({ projectId, choices, expected: p.total })}>
            Migrate {p?.total ?? ""} experiment(s)
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

export function WorkflowPanel({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const [search, setSearch] = useState("");
  const [importing, setImporting] = useState(false);
  const [migrating, setMigrating] = useState(false);
  const board = useQuery(trpc.governor.board.queryOptions({ projectId, search: search || undefined, perState: 25 }, { refetchInterval: 3000 }));
  const info = useQuery(trpc.governor.workflow.queryOptions({ projectId }));

  if (board.error) return <ErrorAlert error={board.error} title="Cannot load the workflow board" />;
  const b = board.data;
  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <div>
          <Title order={4}>Workflow</Title>
          {b?.workflow ? (
            <Text size="sm" c="dimmed">
              <Text span ff="monospace">{b.workflow.label}</Text> version {b.workflow.version} · {b.total} experiment(s) in a workflow
              {b.errors > 0 && <> · <Text span c="red">{b.errors} with an error</Text></>}
              {b.ungoverned > 0 && <> · {b.ungoverned} in no workflow</>}
            </Text>
          ) : (
            <Text size="sm" c="dimmed">This project has no workflow yet.{isOwner ? " Import one: Study Governor files work as they are." : " An owner imports one."}</Text>
          )}
        </div>
        <Group>
          <TextInput placeholder="Experiment label" aria-label="Search experiments" leftSection={<IconSearch size={14} />} value={search} onChange={(e) => setSearch(e.currentTarget.value)} w={220} />
          {isOwner && <StudyExport projectId={projectId} />}
          {isOwner && <Button leftSection={<IconFileImport size={16} />} onClick={() => setImporting(true)}>Import workflow</Button>}
        </Group>
      </Group>
      {isOwner && <ImportWorkflow projectId={projectId} opened={importing} onClose={() => setImporting(false)} />}

      <ScrollArea type="auto" offsetScrollbars>
        <Group align="flex-start" wrap="nowrap" gap="md" data-testid="workflow-board">
          {(b?.columns ?? []).map((c) => (
            <Card key={c.state} withBorder w={260} miw={260} p="sm" data-testid={`column-${c.state}`} bg={c.inActiveWorkflow ? undefined : "var(--mantine-color-gray-0)"}>
              <Group justify="space-between" mb={4} wrap="nowrap">
                <Group gap={6} wrap="nowrap">
                  <IconRoute size={14} />
                  <Text fw={600} ff="monospace" size="sm">{c.state}</Text>
                </Group>
                <Badge variant={c.count ? "filled" : "light"} color={c.final ? "teal" : "blue"} data-testid={`count-${c.state}`}>{c.count}</Badge>
              </Group>
              <Text size="xs" c="dimmed" mb="xs" lineClamp={2}>{c.freetext || " "}</Text>
              <Stack gap={6}>
                {c.experiments.map((e) => (
                  <Card key={e.experimentId} withBorder p={8} radius="sm" component={Link} href={`/projects/${encodeURIComponent(projectId)}/workflow/${e.experimentId}`} style={{ textDecoration: "none", color: "inherit" }}>
                    <Group justify="space-between" gap={4} wrap="nowrap">
                      <Text size="sm" ff="monospace" truncate>{e.label}</Text>
                      <Tooltip label={`in this state since ${new Date(e.since).toLocaleString()}`}><Text size="xs" c="dimmed">{inState(e.secondsInState)}</Text></Tooltip>
                    </Group>
                    {e.error ? (
                      <Text size="xs" c="red" lineClamp={2}>error: {e.error}</Text>
                    ) : e.waitingFor ? (
                      <Text size="xs" c="dimmed" lineClamp={2}>{e.waitingFor}</Text>
                    ) : null}
                    {e.paused && <Badge size="xs" color="gray" leftSection={<IconPlayerPause size={10} />}>paused</Badge>}
                  </Card>
                ))}
                {c.count > c.experiments.length && <Text size="xs" c="dimmed">and {c.count - c.experiments.length} more (longest in state shown first)</Text>}
              </Stack>
            </Card>
          ))}
        </Group>
      </ScrollArea>

      <CompletenessPanel projectId={projectId} isOwner={isOwner} />

      {info.data && info.data.versions.length > 0 && (
        <Stack gap={4}>
          <Title order={5}>Versions</Title>
          <Table withTableBorder striped fz="sm">
            <Table.Thead><Table.Tr><Table.Th>Workflow</Table.Th><Table.Th>Version</Table.Th><Table.Th>Format</Table.Th><Table.Th>Experiments</Table.Th><Table.Th>Imported</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {info.data.versions.map((v) => (
                <Table.Tr key={v.id}>
                  <Table.Td ff="monospace">{v.label}{v.active && <Badge ml="xs" size="xs" color="teal">active</Badge>}</Table.Td>
                  <Table.Td>{v.version}</Table.Td>
                  <Table.Td>{v.format}</Table.Td>
                  <Table.Td>{v.experiments}</Table.Td>
                  <Table.Td>{new Date(v.createdAt).toLocaleString()}{v.createdBy ? ` by ${v.createdBy}` : ""}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {(() => {
            const behind = info.data.versions.filter((v) => !v.active).reduce((n, v) => n + v.experiments, 0);
            return behind > 0 && isOwner ? (
              <Alert color="blue" title={`${behind} experiment(s) run on an earlier version`} data-testid="migration-alert">
                <Group justify="space-between">
                  <Text size="sm">They follow the version they started with until you migrate them. The preview shows where each lands before anything moves.</Text>
                  <Button size="xs" onClick={() => setMigrating(true)}>Preview the migration…</Button>
                </Group>
              </Alert>
            ) : null;
          })()}
          {isOwner && migrating && <MigrateExperiments projectId={projectId} opened={migrating} onClose={() => setMigrating(false)} />}
          <Text size="xs" c="dimmed">Experiments keep the version they started with until an owner migrates them. <Anchor component={Link} href={`/api/v2/experiments?project=${encodeURIComponent(projectId)}`} target="_blank">Study Governor API v2</Anchor> clients use a project token with the &quot;workflow&quot; scope.</Text>
        </Stack>
      )}
    </Stack>
  );
}
