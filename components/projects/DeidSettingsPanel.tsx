"use client";
// De-identification settings of a project (owners): the PS3.15 Basic profile with options, or a
// CTP anonymizer script (pasted or uploaded) applied instead. The server validates both and says
// what is wrong.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Badge, Button, Card, Checkbox, Code, FileInput, Group, List, ScrollArea, SegmentedControl, Select, SimpleGrid, Stack, Table, Text, Textarea, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconFileCode } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";

interface Props {
  projectId: string;
  deidProfile: string;
  deidScript: string | null;
  profileOptions: { id: string; meaning: string }[];
  /** A submitted setting waiting for a site admin's approval. */
  pendingApproval?: { id: string; kind: string; keeps: string[] } | null;
}

async function fileToBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

const CHANGE_COLOR: Record<string, string> = { kept: "gray", replaced: "teal", emptied: "blue", removed: "dark", added: "grape" };

/**
 * Before/after of the setting being edited on a sample of the project (a received instance, or an
 * uploaded file). Original values are shown: the server allows owners only and audits each view.
 */
function DeidPreview({ projectId, setting }: { projectId: string; setting: { deidProfile?: string; deidScript?: string } }) {
  const trpc = useTRPC();
  const samples = useQuery(trpc.intake.previewSamples.queryOptions({ projectId }, { retry: false }));
  const [instanceId, setInstanceId] = useState<string | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [onlyChanged, setOnlyChanged] = useState(false);
  const preview = useMutation(trpc.intake.previewDeid.mutationOptions());
  const run = async () => {
    const sample = file ? { sampleBase64: await fileToBase64(file) } : instanceId ? { instanceId } : null;
    if (!sample) return;
    preview.mutate({ projectId, ...setting, ...sample });
  };
  const p = preview.data;
  const rows = p ? p.rows.filter((r) => !onlyChanged || r.change !== "kept") : [];
  const warned = new Set(p?.warnings.map((w) => w.path) ?? []);
  return (
    <Stack gap="xs" mt="md" data-testid="deid-preview">
      <Title order={6}>Preview on a sample</Title>
      <Text size="xs" c="dimmed">Shows the original values of the sample next to the result. Only owners can open it, and every preview is recorded in the audit log.</Text>
      <Group align="end">
        <Select
          label="Received instance"
          placeholder={samples.data?.length ? "Choose an instance" : "No received file is kept; upload one"}
          w={320}
          data={(samples.data ?? []).map((s) => ({ value: s.id, label: `${new Date(s.receivedAt).toLocaleString()} · ${s.channel} · ${s.status}` }))}
          value={instanceId}
          onChange={(v) => {
            setInstanceId(v);
            setFile(null);
          }}
          clearable
        />
        <FileInput label="…or upload a DICOM file" placeholder="sample.dcm" w={240} value={file} onChange={(f) => { setFile(f); if (f) setInstanceId(null); }} clearable />
        <Button variant="light" onClick={() => void run()} disabled={!file && !instanceId} loading={preview.isPending}>Preview</Button>
      </Group>
      {preview.error && <Alert color="red" title="No preview">{preview.error.message}</Alert>}
      {p && (
        <>
          {p.outcome.kind === "deidentified" ? (
            <Alert color="teal" title="This sample would be released">It passes the site de-identification floor.</Alert>
          ) : (
            <Alert color="red" title={p.outcome.kind === "skipped" ? "This sample would be skipped" : "This sample would be quarantined"}>{p.outcome.reason}</Alert>
          )}
          {p.warnings.length > 0 && (
            <Alert color="orange" title={`Left untouched: ${[...new Set(p.warnings.map((w) => w.kind))].map((k) => ({ name: "names", id: "IDs", date: "dates", uid: "UIDs", other: "other identifying values" })[k]).join(", ")}`}>
              <List size="sm" spacing={2}>
                {p.warnings.slice(0, 15).map((w) => <List.Item key={w.path}>{w.message}</List.Item>)}
                {p.warnings.length > 15 && <List.Item>and {p.warnings.length - 15} more</List.Item>}
              </List>
            </Alert>
          )}
          <Checkbox size="xs" label="Only changed elements" checked={onlyChanged} onChange={(e) => setOnlyChanged(e.currentTarget.checked)} />
          <ScrollArea h={360} type="auto">
            <Table fz="xs" striped stickyHeader>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Element</Table.Th>
                  <Table.Th>Before</Table.Th>
                  <Table.Th>After</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((r) => (
                  <Table.Tr key={r.path}>
                    <Table.Td><Code fz="xs">{r.path}</Code> <Text span fz="xs" c="dimmed">{r.keyword}</Text></Table.Td>
                    <Table.Td style={{ wordBreak: "break-all" }}>{r.before}</Table.Td>
                    <Table.Td style={{ wordBreak: "break-all" }}>{r.after}</Table.Td>
                    <Table.Td><Badge size="xs" variant={warned.has(r.path) ? "filled" : "light"} color={warned.has(r.path) ? "orange" : CHANGE_COLOR[r.change]}>{r.change}</Badge></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </ScrollArea>
        </>
      )}
    </Stack>
  );
}

function optionsOf(spec: string, known: { id: string }[]): string[] {
  const parts = spec.split("+").slice(1).map((p) => p.trim().replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()).toLowerCase());
  return known.filter((o) => parts.includes(o.id.toLowerCase())).map((o) => o.id);
}

export function DeidSettingsPanel({ projectId, deidProfile, deidScript, profileOptions, pendingApproval }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [mode, setMode] = useState<"profile" | "script">(deidScript ? "script" : "profile");
  const [options, setOptions] = useState<string[]>(optionsOf(deidProfile, profileOptions));
  const [script, setScript] = useState(deidScript ?? "");
  const save = useMutation(
    trpc.intake.updateSettings.mutationOptions({
      onSuccess: async (r) => {
        if (r.pendingApproval) notifications.show({ color: "orange", title: "Waiting for a site admin", message: r.pendingApproval.message, autoClose: false });
        else notifications.show({ color: "teal", title: "Saved", message: r.changed.length ? "De-identification settings updated; they apply to instances received from now on." : "Nothing changed." });
        await queryClient.invalidateQueries({ queryKey: trpc.intake.settings.queryKey({ projectId }) });
      },
    }),
  );
  const spec = ["basic", ...options].join("+");
  const loadFile = async (f: File | null) => {
    if (f) setScript(await f.text());
  };
  const error = save.error?.message.replace(/^deid(Profile|Script): /, "");
  return (
    <Card withBorder radius="md" padding="lg" data-testid="deid-settings">
      <Group justify="space-between" mb="xs">
        <Title order={5}>De-identification</Title>
        <Text size="sm" c="dimmed">
          Now: {deidScript ? <>CTP script ({deidScript.length.toLocaleString()} characters)</> : <>profile <Code>{deidProfile}</Code></>}
        </Text>
      </Group>
      {pendingApproval && (
        <Alert color="orange" mb="md" title="Waiting for a site admin's approval">
          The {pendingApproval.kind === "script" ? "script" : "profile"} you submitted keeps what the site de-identification floor removes
          ({pendingApproval.keeps.slice(0, 6).join("; ")}{pendingApproval.keeps.length > 6 ? "; …" : ""}). A site admin must approve it
          before it applies; until then the current settings stay in force.
        </Alert>
      )}
      <SegmentedControl
        mb="md"
        value={mode}
        onChange={(v) => setMode(v as "profile" | "script")}
        data={[
          { value: "profile", label: "PS3.15 profile" },
          { value: "script", label: "CTP anonymizer script" },
        ]}
      />
      {mode === "profile" ? (
        <Stack gap="sm">
          <Text size="sm">The Basic Application Level Confidentiality Profile, with these options:</Text>
          <Checkbox.Group
            value={options}
            onChange={(next) => {
              // The two longitudinal options are alternatives (PS3.15): choosing one drops the other.
              const added = next.find((o) => !options.includes(o));
              const other = added === "retainLongitudinalFullDates" ? "retainLongitudinalModifiedDates" : added === "retainLongitudinalModifiedDates" ? "retainLongitudinalFullDates" : null;
              setOptions(other ? next.filter((o) => o !== other) : next);
            }}
          >
            <SimpleGrid cols={{ base: 1, sm: 2 }} spacing={6}>
              {profileOptions.map((o) => <Checkbox key={o.id} value={o.id} label={o.meaning} />)}
            </SimpleGrid>
          </Checkbox.Group>
          <Text size="xs" c="dimmed">
            The two longitudinal options are alternatives: Full Dates keeps dates as they are, Modified Dates shifts them consistently per patient. Choosing one clears the other.
          </Text>
          <Text size="xs" c="dimmed">
            Ultrasound and secondary-capture images are always held for a pixel review unless a pixel rule covers them; Clean Pixel Data holds every image no pixel rule covers.
          </Text>
          <Text size="xs" c="dimmed">Profile: <Code>{spec}</Code></Text>
          {deidScript && <Alert color="yellow">Saving the profile removes the CTP script; the profile applies instead.</Alert>}
          {error && <Alert color="red" title="Not saved">{error}</Alert>}
          <Group>
            <Button onClick={() => save.mutate({ projectId, deidProfile: spec, ...(deidScript ? { deidScript: null } : {}) })} loading={save.isPending}>Save profile</Button>
          </Group>
          <DeidPreview projectId={projectId} setting={{ deidProfile: spec }} />
        </Stack>
      ) : (
        <Stack gap="sm">
          <Text size="sm">A CTP DicomAnonymizer script (XML or properties) applied instead of the profile. Paste it or upload the file.</Text>
          <FileInput label="Upload a script" placeholder="anonymizer.script" w={320} leftSection={<IconFileCode size={16} />} onChange={(f) => void loadFile(f)} clearable />
          <Textarea
            label="Script"
            ff="monospace"
            autosize
            minRows={6}
            maxRows={18}
            value={script}
            onChange={(e) => setScript(e.currentTarget.value)}
            placeholder={'<script>\n  <e en="T" t="00100010" n="PatientName">@empty()</e>\n</script>'}
            error={error}
          />
          <Group>
            <Button onClick={() => save.mutate({ projectId, deidScript: script })} loading={save.isPending}>Save script</Button>
            {deidScript && (
              <Button variant="default" color="red" onClick={() => window.confirm("Remove the script? The profile applies again.") && save.mutate({ projectId, deidScript: null })}>
                Remove script
              </Button>
            )}
          </Group>
          <DeidPreview projectId={projectId} setting={script.trim() ? { deidScript: script } : {}} />
        </Stack>
      )}
    </Card>
  );
}
