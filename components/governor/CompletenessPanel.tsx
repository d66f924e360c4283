"use client";
// Expected versus received (issue #16), on the Workflow tab: the project's protocol (owners edit
// it; what does not parse is shown by line), counts per visit and status (click to filter), and
// each subject's visits with what is missing, late or unexpected. Updates itself as data arrives.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Badge, Button, Group, List, Modal, Stack, Table, Text, Textarea, TextInput, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle, IconChecklist, IconSearch } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

type Status = "complete" | "incomplete" | "pending" | "late";
const COLOR: Record<Status, string> = { complete: "teal", incomplete: "orange", pending: "gray", late: "red" };

const EXAMPLE = `visits:
  - label: baseline
    scans:
      - {label: T1, modality: MR, seriesDescription: "t1|mprage", minInstances: 20}
      - {label: FLAIR, modality: MR, seriesDescription: flair}
      - {label: DWI, modality: MR, seriesDescription: "dwi|diffusion", optional: true}
  - label: followup
    studyDescription: "follow"
    withinDays: 180
    scans:
      - {label: T1, modality: MR, seriesDescription: "t1|mprage"}
`;

function EditProtocol({ projectId, current, opened, onClose }: { projectId: string; current: string | null; opened: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [source, setSource] = useState(current ?? EXAMPLE);
  const save = useMutation(
    trpc.governor.saveExpected.mutationOptions({
      onSuccess: async (r) => {
        if (!r.ok) return;
        notifications.show({ color: "teal", title: "Protocol saved", message: `${r.visits.length} visit(s); ${r.evaluations} experiment(s) are evaluated again.` });
        await qc.invalidateQueries({ queryKey: trpc.governor.expected.pathKey() });
        onClose();
      },
    }),
  );
  const r = save.data;
  return (
    <Modal opened={opened} onClose={onClose} title="Expected visits and scans" size="xl">
      <Stack>
        <Text size="sm" c="dimmed">
          The visits each subject has and the scans expected in each (modality, a series description pattern, at least how many series and instances). A visit is recognised by its study description when it has a pattern, else visits are taken in arrival order. <Text span ff="monospace">withinDays</Text> makes a visit late that has not arrived that many days after the subject&apos;s first one. Workflow conditions can use <Text span ff="monospace">experiment.complete</Text>, <Text span ff="monospace">experiment.visit</Text> and <Text span ff="monospace">experiment.missing</Text>.
        </Text>
        <Textarea label="Protocol (YAML or JSON)" value={source} onChange={(e) => { setSource(e.currentTarget.value); save.reset(); }} autosize minRows={12} maxRows={24} styles={{ input: { fontFamily: "monospace", fontSize: 12 } }} />
        {r && !r.ok && (
          <Alert color="red" icon={<IconAlertTriangle size={16} />} title="Not saved: nothing was changed">
            <List size="sm" spacing={4}>
              {r.problems.map((p, i) => <List.Item key={i}><Text span ff="monospace" size="sm">{p.line ? `line ${p.line}` : "file"}</Text>: {p.message}</List.Item>)}
            </List>
            <Text size="sm" mt="xs">Fix these lines and save again.</Text>
          </Alert>
        )}
        {save.error && <ErrorAlert error={save.error} title="Not saved" />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Cancel</Button>
          <Button onClick={() => save.mutate({ projectId, source })} loading={save.isPending} disabled={!source.trim()}>Save protocol</Button>
        </Group>
      </Stack>
    </Modal>
  );
}

export function CompletenessPanel({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const [status, setStatus] = useState<Status | undefined>();
  const [search, setSearch] = useState("");
  const [editing, setEditing] = useState(false);
  const q = useQuery(trpc.governor.expected.queryOptions({ projectId, status, search: search || undefined, limit: 200 }, { refetchInterval: 5000, placeholderData: (p) => p }));
  if (q.error) return <ErrorAlert error={q.error} title="Cannot load expected versus received" />;
  const d = q.data;
  return (
    <Stack gap="xs" data-testid="completeness">
      <Group justify="space-between" align="flex-end">
        <div>
          <Title order={5}>Expected versus received</Title>
          <Text size="sm" c="dimmed">
            {d?.protocol
              ? `${d.summary!.subjects} subject(s), visits ${d.protocol.visits.join(", ")}${d.summary!.unexpectedExperiments ? ` · ${d.summary!.unexpectedExperiments} experiment(s) no visit expects` : ""}`
              : isOwner
                ? "No protocol yet: declare the visits and scans you expect, and Atrium shows what is missing or late."
                : "No protocol yet: an owner declares the visits and scans expected."}
          </Text>
        </div>
        <Group>
          {d?.protocol && <TextInput placeholder="Subject" aria-label="Search subjects" leftSection={<IconSearch size={14} />} value={search} onChange={(e) => setSearch(e.currentTarget.value)} w={180} />}
          {isOwner && <Button variant="default" leftSection={<IconChecklist size={16} />} onClick={() => setEditing(true)}>{d?.protocol ? "Edit protocol" : "Declare the protocol"}</Button>}
        </Group>
      </Group>
      {isOwner && editing && <EditProtocol projectId={projectId} current={d?.protocol?.source ?? null} opened={editing} onClose={() => setEditing(false)} />}
      {d?.protocol && (
        <>
          <Table withTableBorder fz="sm" data-testid="completeness-summary">
            <Table.Thead><Table.Tr><Table.Th>Visit</Table.Th>{(["complete", "incomplete", "pending", "late"] as const).map((s) => <Table.Th key={s}>{s}</Table.Th>)}</Table.Tr></Table.Thead>
            <Table.Tbody>
              {d.summary!.visits.map((v) => (
                <Table.Tr key={v.visit}>
                  <Table.Td ff="monospace">{v.visit}</Table.Td>
                  {(["complete", "incomplete", "pending", "late"] as const).map((s) => (
                    <Table.Td key={s}>
                      <Badge component="button" variant={status === s ? "filled" : "light"} color={COLOR[s]} style={{ cursor: "pointer" }} onClick={() => setStatus(status === s ? undefined : s)} aria-label={`${v[s]} ${s} (${v.visit}): show the subjects`}>{v[s]}</Badge>
                    </Table.Td>
                  ))}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {status && <Text size="sm">Subjects with a visit {status} <Button size="compact-xs" variant="subtle" onClick={() => setStatus(undefined)}>show all</Button></Text>}
          <Table withTableBorder striped fz="sm" data-testid="completeness-subjects">
            <Table.Thead><Table.Tr><Table.Th>Subject</Table.Th>{d.protocol.visits.map((v) => <Table.Th key={v}>{v}</Table.Th>)}<Table.Th>Not expected</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {d.subjects.map((s) => (
                <Table.Tr key={s.subject} data-testid={`subject-${s.subject}`}>
                  <Table.Td ff="monospace">{s.subject}</Table.Td>
                  {s.visits.map((v) => (
                    <Table.Td key={v.visit}>
                      <Badge color={COLOR[v.status]} variant="light">{v.status}</Badge>
                      {v.experiment && <Text size="xs" ff="monospace">{v.experiment}</Text>}
                      {v.status !== "complete" && v.experiment && v.missing.length > 0 && <Text size="xs" c="orange">missing: {v.missing.join(", ")}</Text>}
                      {v.dueAt && <Text size="xs" c={v.status === "late" ? "red" : "dimmed"}>due {new Date(v.dueAt).toLocaleDateString()}</Text>}
                      {v.unexpected.length > 0 && <Tooltip label={v.unexpected.join("; ")}><Text size="xs" c="dimmed">{v.unexpected.length} series not expected</Text></Tooltip>}
                    </Table.Td>
                  ))}
                  <Table.Td>{s.unexpectedExperiments.length ? <Text size="xs" ff="monospace">{s.unexpectedExperiments.join(", ")}</Text> : "—"}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {d.total > d.subjects.length && <Text size="xs" c="dimmed">{d.subjects.length} of {d.total} subjects shown; search to find others.</Text>}
        </>
      )}
    </Stack>
  );
}
