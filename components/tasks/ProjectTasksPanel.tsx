"use client";
// A project's Tasks tab: templates (edited as YAML/JSON with every validation error at its line,
// checked as you type by the server's own parser), task groups with live progress, a group made
// from the project's experiments, and for owners each group's results, agreement and export.
import { useMemo, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Anchor, Badge, Button, Checkbox, Code, Group, Modal, MultiSelect, NumberInput, Paper, Progress, Select, SimpleGrid, Stack, Table, Text, TextInput, Textarea, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconDownload, IconPlayerPlay, IconPlus } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ReviewActions } from "./ReviewActions";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { saveBlob } from "@/components/projects/download-client";
import { parseTemplateSource } from "@/lib/tasks/parse";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";

export function ProjectTasksPanel({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const groups = useQuery(trpc.tasks.groups.queryOptions({ projectId }, { refetchInterval: 5000 }));
  const templates = useQuery(trpc.tasks.templates.queryOptions({ projectId }, { enabled: isOwner }));
  const [editing, setEditing] = useState<{ name: string; source: string } | null>(null);
  const [creating, setCreating] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const next = useMutation(trpc.tasks.startNext.mutationOptions({ onSuccess: (t) => (t ? router.push(`/tasks/${t.id}`) : notifications.show({ message: "No task left for you in this group." })) }));

  return (
    <Stack gap="xl">
      <ErrorAlert error={groups.error ?? next.error} />
      <div>
        <Group justify="space-between" mb="xs">
          <Title order={4}>Task groups</Title>
          {isOwner && <Button size="xs" leftSection={<IconPlus size={14} />} onClick={() => setCreating(true)} disabled={!templates.data?.length}>New task group</Button>}
        </Group>
        {groups.data?.length === 0 && <Text c="dimmed" size="sm">No task groups yet.{isOwner ? " Save a template, then create a group from the project's experiments." : ""}</Text>}
        {groups.data && groups.data.length > 0 && (
          <Table data-testid="task-groups" highlightOnHover>
            <Table.Thead><Table.Tr><Table.Th>Group</Table.Th><Table.Th>Template</Table.Th><Table.Th>Reads per case</Table.Th><Table.Th w={260}>Progress</Table.Th><Table.Th>Readers</Table.Th><Table.Th /></Table.Tr></Table.Thead>
            <Table.Tbody>
              {groups.data.map((g) => (
                <Table.Tr key={g.id} bg={selected === g.id ? "var(--mantine-color-blue-light)" : undefined}>
                  <Table.Td>{isOwner ? <Anchor component="button" onClick={() => setSelected(g.id === selected ? null : g.id)}>{g.label}</Anchor> : g.label}</Table.Td>
                  <Table.Td><Code>{g.template}</Code></Table.Td>
                  <Table.Td>{g.readersPerCase}</Table.Td>
                  <Table.Td>
                    <Progress value={g.total ? (100 * g.finished) / g.total : 0} size="sm" />
                    <Text size="xs" c="dimmed" data-testid={`progress-${g.label}`}>
                      {g.finished} of {g.total} finished · {Object.entries(g.counts).map(([k, v]) => `${v} ${k.replace(/_/g, " ")}`).join(", ")}
                    </Text>
                  </Table.Td>
                  <Table.Td><Text size="xs">{g.readers.map((r) => `${r.reader}: ${r.tasks} (${Math.round(r.timeSpentMs / 60000)} min)`).join("; ") || "–"}</Text></Table.Td>
                  <Table.Td><Button size="compact-xs" variant="light" leftSection={<IconPlayerPlay size={12} />} onClick={() => next.mutate({ projectId, groupId: g.id })}>Start next</Button></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </div>
      {isOwner && selected && <GroupDetails projectId={projectId} groupId={selected} label={groups.data?.find((g) => g.id === selected)?.label ?? ""} />}
      {isOwner && (
        <div>
          <Group justify="space-between" mb="xs">
            <Title order={4}>Templates</Title>
            <Button size="xs" variant="default" leftSection={<IconPlus size={14} />} onClick={() => setEditing({ name: "", source: DEMO_QC_TEMPLATE })}>New template</Button>
          </Group>
          <ErrorAlert error={templates.error} />
          {templates.data?.length === 0 && <Text c="dimmed" size="sm">No templates yet.</Text>}
          <Stack gap={4} data-testid="task-templates">
            {templates.data?.map((t) => (
              <Group key={t.id} gap="sm">
                <Anchor component="button" ff="monospace" onClick={() => setEditing({ name: t.name, source: t.latest?.source ?? "" })}>{t.name}</Anchor>
                <Badge variant="light" size="sm">v{t.latest?.version}</Badge>
                {t.latest?.format !== "atrium" && <Badge variant="light" color="gray" size="sm">ViewR</Badge>}
              </Group>
            ))}
          </Stack>
        </div>
      )}
      {editing && <TemplateEditor projectId={projectId} initial={editing} onClose={() => setEditing(null)} />}
      {creating && templates.data && <CreateGroup projectId={projectId} templates={templates.data.map((t) => ({ value: t.id, label: `${t.name} (v${t.latest?.version})` }))} onClose={() => setCreating(false)} />}
    </Stack>
  );
}

function TemplateEditor({ projectId, initial, onClose }: { projectId: string; initial: { name: string; source: string }; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState(initial.name);
  const [source, setSource] = useState(initial.source);
  const parsed = useMemo(() => parseTemplateSource(source), [source]);
  const save = useMutation(
    trpc.tasks.saveTemplate.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: "Template saved", message: `${name} version ${r.version}. Groups made before keep their version.` });
        await queryClient.invalidateQueries({ queryKey: trpc.tasks.templates.queryKey() });
        onClose();
      },
    }),
  );
  return (
    <Modal opened onClose={onClose} title={initial.name ? `Template ${initial.name}` : "New template"} size="xl">
      <Stack>
        <TextInput label="Name" description="Letters, digits, _ and -; saving under an existing name adds a version." value={name} onChange={(e) => setName(e.currentTarget.value)} disabled={Boolean(initial.name)} />
        <Textarea label="Template (YAML or JSON)" value={source} onChange={(e) => setSource(e.currentTarget.value)} autosize minRows={14} maxRows={24} styles={{ input: { fontFamily: "monospace", fontSize: 12 } }} spellCheck={false} data-testid="template-source" />
        {parsed.ok ? (
          <Text size="sm" c="teal" data-testid="template-valid">Valid: {parsed.template.contexts.length} step(s), {Object.keys(parsed.template.scans).length} scan(s), {parsed.template.contexts.reduce((n, c) => n + c.form.length, 0)} question(s).</Text>
        ) : (
          <Alert color="red" title={`${parsed.errors.length} problem(s)`} data-testid="template-errors">
            {parsed.errors.slice(0, 20).map((e, i) => <Text key={i} size="sm">{e.line ? `line ${e.line}: ` : ""}{e.path ? <Code>{e.path}</Code> : null} {e.message}</Text>)}
          </Alert>
        )}
        <ErrorAlert error={save.error} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Cancel</Button>
          <Button disabled={!parsed.ok || !name} loading={save.isPending} onClick={() => save.mutate({ projectId, name, source })}>Save</Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function CreateGroup({ projectId, templates, onClose }: { projectId: string; templates: { value: string; label: string }[]; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const members = useQuery(trpc.member.list.queryOptions({ projectId }));
  const [label, setLabel] = useState("");
  const [templateId, setTemplateId] = useState<string | null>(templates[0]?.value ?? null);
  const [modality, setModality] = useState("");
  const [labelContains, setLabelContains] = useState("");
  const [readersPerCase, setReaders] = useState(1);
  const [pool, setPool] = useState<string[]>([]);
  const [review, setReview] = useState(false);
  const create = useMutation(
    trpc.tasks.createGroup.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: "Task group created", message: `${r.tasks} task(s).` });
        await queryClient.invalidateQueries({ queryKey: trpc.tasks.groups.queryKey() });
        onClose();
      },
    }),
  );
  return (
    <Modal opened onClose={onClose} title="New task group" size="lg">
      <Stack>
        <TextInput label="Label" required value={label} onChange={(e) => setLabel(e.currentTarget.value)} placeholder="Baseline QC" />
        <Select label="Template" data={templates} value={templateId} onChange={setTemplateId} allowDeselect={false} />
        <Text size="sm" fw={500}>Experiments: all of the project's experiments that match</Text>
        <SimpleGrid cols={2}>
          <TextInput label="Modality" placeholder="any (e.g. MR)" value={modality} onChange={(e) => setModality(e.currentTarget.value.toUpperCase())} />
          <TextInput label="Label contains" placeholder="any" value={labelContains} onChange={(e) => setLabelContains(e.currentTarget.value)} />
        </SimpleGrid>
        <NumberInput label="Reads per case" description="Independent reads of each experiment; disagreements make one adjudication task." min={1} max={10} value={readersPerCase} onChange={(v) => setReaders(Number(v) || 1)} />
        <MultiSelect
          label="Readers"
          description="Empty: every member may read. Otherwise only these (members of the project)."
          data={(members.data?.members ?? []).filter((m) => m.role !== "collaborator").map((m) => ({ value: m.userId, label: m.name ? `${m.name} <${m.email ?? ""}>` : (m.email ?? m.userId) }))}
          value={pool}
          onChange={setPool}
          searchable
        />
        <Checkbox label="An owner reviews each read (accepts it, or returns it to its reader with a comment) before it counts" checked={review} onChange={(e) => setReview(e.currentTarget.checked)} />
        <ErrorAlert error={create.error} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Cancel</Button>
          <Button
            disabled={!label.trim() || !templateId}
            loading={create.isPending}
            onClick={() =>
              create.mutate({ projectId, label, templateId: templateId!, query: { ...(modality ? { modality } : {}), ...(labelContains ? { labelContains } : {}) }, readersPerCase, distribution: "pool", pool: pool.map((userId) => ({ userId, weight: 1 })), review })
            }
          >
            Create
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function GroupDetails({ projectId, groupId, label }: { projectId: string; groupId: string; label: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const results = useQuery(trpc.tasks.results.queryOptions({ projectId, groupId }, { refetchInterval: 10000 }));
  const agreement = useQuery(trpc.tasks.agreement.queryOptions({ projectId, groupId }));
  const download = async (format: "csv" | "json") => {
    const f = await queryClient.fetchQuery(trpc.tasks.export.queryOptions({ projectId, groupId, format }, { staleTime: 0 }));
    saveBlob(new Blob([f.body], { type: f.contentType }), f.filename);
  };
  const fmt = (x: number) => x.toFixed(2);
  return (
    <Paper withBorder p="md" data-testid="group-details">
      <Group justify="space-between" mb="sm">
        <Title order={5}>{label}: results</Title>
        <Group gap="xs">
          <Button size="xs" variant="default" leftSection={<IconDownload size={14} />} onClick={() => void download("csv")}>CSV</Button>
          <Button size="xs" variant="default" leftSection={<IconDownload size={14} />} onClick={() => void download("json")}>JSON (with data dictionary)</Button>
        </Group>
      </Group>
      <ErrorAlert error={results.error ?? agreement.error} />
      {agreement.data && agreement.data.cases > 0 && (
        <Stack gap={2} mb="md" data-testid="agreement">
          <Text size="sm" fw={500}>Agreement over {agreement.data.cases} case(s) with every read in</Text>
          {agreement.data.questions.map((q) => (
            <Text key={q.question} size="sm">{q.label}: {q.statistic} {q.estimate ? `${fmt(q.estimate.value)}${q.estimate.ci ? ` (95% CI ${fmt(q.estimate.ci[0])} to ${fmt(q.estimate.ci[1])})` : ""}` : "not computable"}</Text>
          ))}
        </Stack>
      )}
      <Table striped data-testid="group-results">
        <Table.Thead><Table.Tr><Table.Th>Task</Table.Th><Table.Th>Experiment</Table.Th><Table.Th>Reader</Table.Th><Table.Th>State</Table.Th><Table.Th>Answers</Table.Th><Table.Th>Time</Table.Th><Table.Th>Review</Table.Th></Table.Tr></Table.Thead>
        <Table.Tbody>
          {results.data?.slice(0, 200).map((r) => (
            <Table.Tr key={r.taskId}>
              <Table.Td><Anchor component={Link} href={`/tasks/${r.taskId}`}>#{r.taskNumber}</Anchor>{r.kind === "adjudication" && <Badge ml={4} size="xs" color="grape">adj.</Badge>}</Table.Td>
              <Table.Td ff="monospace">{r.subjectLabel} / {r.experimentLabel}</Table.Td>
              <Table.Td>{r.reader ?? "–"}</Table.Td>
              <Table.Td><Badge size="sm" variant="light">{r.state.replace(/_/g, " ")}</Badge></Table.Td>
              <Table.Td><Text size="xs">{Object.entries(r.answers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : String(v)}`).join("; ") || "–"}</Text></Table.Td>
              <Table.Td>{r.timeSpentSeconds ? `${r.timeSpentSeconds} s` : "–"}</Table.Td>
              <Table.Td>{r.state === "submitted" ? <ReviewActions projectId={projectId} taskId={r.taskId} /> : null}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Paper>
  );
}
