"use client";
// The Archive tab's Forwarding panel (issue #19): a project's forward destinations (DICOM nodes by
// C-STORE, DICOMweb servers by STOW-RS) with their studies by state, progress, failures with the
// reason and Retry, and (owners) add / edit / enable / remove / Test connection. Polled every 3 s.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  Alert, Badge, Button, Card, Checkbox, Group, Modal, NumberInput, PasswordInput, Progress, SegmentedControl, Select, SimpleGrid, Stack, Switch, Table, Text, TextInput, Title, Tooltip,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle, IconCircleCheck, IconEdit, IconPlugConnected, IconPlus, IconRefresh, IconSend, IconTrash } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

type FState = "queued" | "sending" | "verified" | "sent" | "failed" | "skipped";
const SHOWN: { state: FState; label: string; color: string }[] = [
  { state: "queued", label: "queued", color: "gray" },
  { state: "sending", label: "sending", color: "blue" },
  { state: "verified", label: "verified", color: "teal" },
  { state: "sent", label: "sent, not verified", color: "yellow" },
  { state: "failed", label: "failed", color: "red" },
];
const stateColor: Record<FState, string> = { queued: "gray", sending: "blue", verified: "teal", sent: "yellow", failed: "red", skipped: "gray" };

function relative(d: Date | string): string {
  const ms = new Date(d).getTime() - Date.now();
  const abs = Math.abs(ms);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 3600_000 ? `${Math.round(abs / 60_000)} min` : `${(abs / 3600_000).toFixed(1)} h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

interface FormState {
  kind: "dicom" | "stow";
  name: string;
  enabled: boolean;
  trigger: "archived" | "stable";
  filter: string;
  host: string;
  port: number | string;
  calledAe: string;
  callingAe: string;
  associations: number | string;
  stowUrl: string;
  authKind: "none" | "bearer" | "basic";
  authUser: string;
  secret: string;
}

const EMPTY: FormState = {
  kind: "dicom", name: "", enabled: true, trigger: "archived", filter: "", host: "", port: 104, calledAe: "", callingAe: "ATRIUM", associations: 1, stowUrl: "", authKind: "none", authUser: "", secret: "",
};

function fields(f: FormState) {
  const common = { name: f.name, enabled: f.enabled, trigger: f.trigger, filter: f.filter };
  if (f.kind === "dicom") return { kind: "dicom" as const, ...common, host: f.host, port: Number(f.port), calledAe: f.calledAe, callingAe: f.callingAe || "ATRIUM", associations: Number(f.associations) || 1 };
  return { kind: "stow" as const, ...common, stowUrl: f.stowUrl, authKind: f.authKind, authUser: f.authKind === "basic" ? f.authUser : undefined, secret: f.secret || undefined };
}

type Dest = { id: string; name: string; kind: "dicom" | "stow"; enabled: boolean; trigger: "archived" | "stable"; filter: string; host: string | null; port: number | null; calledAe: string | null; callingAe: string | null; associations: number; stowUrl: string | null; authKind: string; authUser: string | null; hasSecret: boolean };

function DestinationForm({ projectId, editing, onClose }: { projectId: string; editing: Dest | null; onClose(): void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [f, setF] = useState<FormState>(() =>
    editing
      ? {
          ...EMPTY,
          kind: editing.kind, name: editing.name, enabled: editing.enabled, trigger: editing.trigger, filter: editing.filter,
          host: editing.host ?? "", port: editing.port ?? 104, calledAe: editing.calledAe ?? "", callingAe: editing.callingAe ?? "ATRIUM", associations: editing.associations,
          stowUrl: editing.stowUrl ?? "", authKind: (editing.authKind as FormState["authKind"]) ?? "none", authUser: editing.authUser ?? "",
        }
      : EMPTY,
  );
  const [backfill, setBackfill] = useState(false);
  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setF((x) => ({ ...x, [k]: v }));
  const done = async (title: string) => {
    notifications.show({ color: "teal", title, message: f.name });
    await queryClient.invalidateQueries({ queryKey: trpc.forward.status.queryKey({ projectId }) });
    onClose();
  };
  const create = useMutation(trpc.forward.create.mutationOptions({ onSuccess: () => done("Destination added") }));
  const update = useMutation(trpc.forward.update.mutationOptions({ onSuccess: () => done("Destination saved") }));
  const test = useMutation(trpc.forward.testConnection.mutationOptions());
  const save = editing ? update : create;
  const fieldError = (p: string) => save.error?.data?.fieldErrors?.find((e) => e.path === `destination.${p}`)?.message;
  const storedSecret = editing?.hasSecret && editing.stowUrl === f.stowUrl && editing.authKind === f.authKind;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (editing) update.mutate({ projectId, destinationId: editing.id, destination: fields(f) });
        else create.mutate({ projectId, destination: fields(f), backfill });
      }}
    >
      <Stack gap="sm">
        <SegmentedControl
          value={f.kind}
          onChange={(v) => set("kind", v as FormState["kind"])}
          data={[{ value: "dicom", label: "DICOM node (C-STORE)" }, { value: "stow", label: "DICOMweb (STOW-RS)" }]}
          style={{ alignSelf: "flex-start" }}
        />
        <TextInput label="Name" placeholder="Research PACS" value={f.name} onChange={(e) => set("name", e.currentTarget.value)} error={fieldError("name")} />
        {f.kind === "dicom" ? (
          <>
            <Group grow align="flex-start">
              <TextInput label="Host" placeholder="pacs.example.org" value={f.host} onChange={(e) => set("host", e.currentTarget.value)} error={fieldError("host")} />
              <NumberInput label="Port" value={f.port} onChange={(v) => set("port", v)} min={1} max={65535} error={fieldError("port")} />
            </Group>
            <Group grow align="flex-start">
              <TextInput label="Receiver's AE title (called)" value={f.calledAe} onChange={(e) => set("calledAe", e.currentTarget.value)} error={fieldError("calledAe")} />
              <TextInput label="Atrium's AE title (calling)" value={f.callingAe} onChange={(e) => set("callingAe", e.currentTarget.value)} error={fieldError("callingAe")} />
              <NumberInput label="Parallel associations" value={f.associations} onChange={(v) => set("associations", v)} min={1} max={8} error={fieldError("associations")} />
            </Group>
          </>
        ) : (
          <>
            <TextInput label="DICOMweb root URL" description="The part before /studies. Addresses on this machine or a private network need the site admin's allow-list." placeholder="https://pacs.example.org/dicom-web" value={f.stowUrl} onChange={(e) => set("stowUrl", e.currentTarget.value)} error={fieldError("stowUrl")} />
            <Group grow align="flex-start">
              <Select label="Authentication" value={f.authKind} onChange={(v) => set("authKind", (v ?? "none") as FormState["authKind"])} data={[{ value: "none", label: "None" }, { value: "bearer", label: "Bearer token" }, { value: "basic", label: "User and password" }]} allowDeselect={false} />
              {f.authKind === "basic" && <TextInput label="User" value={f.authUser} onChange={(e) => set("authUser", e.currentTarget.value)} error={fieldError("authUser")} />}
              {f.authKind !== "none" && (
                <PasswordInput
                  label={f.authKind === "bearer" ? "Token" : "Password"}
                  description={storedSecret ? "Stored encrypted; leave empty to keep it" : "Stored encrypted, never shown again"}
                  placeholder={storedSecret ? "••••••••" : ""}
                  value={f.secret}
                  onChange={(e) => set("secret", e.currentTarget.value)}
                  error={fieldError("secret")}
                />
              )}
            </Group>
          </>
        )}
        <TextInput
          label="Filter (optional)"
          description='A routing rule as on the Intake tab, e.g. Modality == "MR". Empty: every instance.'
          placeholder='Modality == "MR"'
          value={f.filter}
          onChange={(e) => set("filter", e.currentTarget.value)}
          error={fieldError("filter")}
          styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
        />
        <Select
          label="Send when"
          value={f.trigger}
          onChange={(v) => set("trigger", (v ?? "archived") as FormState["trigger"])}
          data={[{ value: "archived", label: "the study is archived" }, { value: "stable", label: "the study is stable (before it is archived)" }]}
          allowDeselect={false}
        />
        <Switch label="Enabled" checked={f.enabled} onChange={(e) => set("enabled", e.currentTarget.checked)} />
        {!editing && <Checkbox label="Also send the studies the project already holds" checked={backfill} onChange={(e) => setBackfill(e.currentTarget.checked)} data-testid="backfill" />}
        {test.data && (
          <Alert color={test.data.ok ? "teal" : "red"} icon={test.data.ok ? <IconCircleCheck size={18} /> : <IconAlertTriangle size={18} />} title={test.data.ok ? "Connection works" : "Connection problem"} data-testid="forward-connection-result">
            {test.data.message}
          </Alert>
        )}
        <ErrorAlert error={test.error} title="Connection not tested" />
        {save.error && !save.error.data?.fieldErrors?.length && <ErrorAlert error={save.error} title="Not saved" />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Cancel</Button>
          <Button variant="default" leftSection={<IconPlugConnected size={16} />} loading={test.isPending} onClick={() => test.mutate({ projectId, destinationId: editing?.id, destination: fields(f) })}>
            Test connection
          </Button>
          <Button type="submit" loading={save.isPending}>{editing ? "Save" : "Add destination"}</Button>
        </Group>
      </Stack>
    </form>
  );
}

export function ForwardPanel({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const status = useQuery(trpc.forward.status.queryOptions({ projectId, limit: 20 }, { refetchInterval: 3_000 }));
  const [form, setForm] = useState<{ editing: Dest | null } | null>(null);
  const [removing, setRemoving] = useState<Dest | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.forward.status.queryKey({ projectId }) });
  const onError = (title: string) => (e: { message: string }) => notifications.show({ color: "red", title, message: e.message });
  const setEnabled = useMutation(trpc.forward.setEnabled.mutationOptions({ onSuccess: refresh, onError: onError("Not changed") }));
  const remove = useMutation(trpc.forward.remove.mutationOptions({ onSuccess: async () => { setRemoving(null); await refresh(); }, onError: onError("Not removed") }));
  const retry = useMutation(trpc.forward.retry.mutationOptions({ onSuccess: refresh, onError: onError("Not retried") }));
  const test = useMutation(trpc.forward.testConnection.mutationOptions());

  return (
    <Card withBorder radius="md" padding="lg" data-testid="forward-panel">
      <Group justify="space-between" mb="sm">
        <div>
          <Title order={5}>Forwarding</Title>
          <Text size="xs" c="dimmed">De-identified studies sent on to other DICOM receivers, verified where the receiver allows it.</Text>
        </div>
        {isOwner && <Button size="xs" leftSection={<IconPlus size={14} />} onClick={() => setForm({ editing: null })}>Add destination</Button>}
      </Group>
      <ErrorAlert error={status.error} title="Could not load forwarding" onRetry={() => void status.refetch()} />
      {status.data?.length === 0 && <Text size="sm" c="dimmed">No forward destination.{isOwner ? " Add one to send this project's studies to a PACS, an AI node or another archive." : ""}</Text>}
      <Stack gap="md">
        {status.data?.map((d) => {
          const dest = d.destination as Dest;
          return (
            <Card key={dest.id} withBorder radius="md" padding="md" data-testid={`destination-${dest.name}`}>
              <Group justify="space-between" align="flex-start" mb="xs">
                <div>
                  <Group gap="xs">
                    <IconSend size={16} />
                    <Text fw={600}>{dest.name}</Text>
                    <Badge variant="light" color={dest.kind === "dicom" ? "indigo" : "grape"}>{dest.kind === "dicom" ? "C-STORE" : "STOW-RS"}</Badge>
                    {!dest.enabled && <Badge variant="light" color="gray">disabled</Badge>}
                  </Group>
                  <Text size="xs" c="dimmed" ff="monospace">
                    {dest.kind === "dicom" ? `${dest.calledAe}@${dest.host}:${dest.port} from ${dest.callingAe}${dest.associations > 1 ? ` · ${dest.associations} associations` : ""}` : dest.stowUrl}
                  </Text>
                  <Text size="xs" c="dimmed">
                    {dest.trigger === "archived" ? "when archived" : "when stable"} · {dest.filter ? <Text span ff="monospace" size="xs">{dest.filter}</Text> : "every instance"}
                  </Text>
                </div>
                {isOwner && (
                  <Group gap="xs">
                    <Switch size="sm" label="Enabled" checked={dest.enabled} onChange={(e) => setEnabled.mutate({ projectId, destinationId: dest.id, enabled: e.currentTarget.checked })} />
                    <Button size="xs" variant="default" leftSection={<IconPlugConnected size={14} />} loading={test.isPending && test.variables?.destinationId === dest.id} onClick={() => test.mutate({ projectId, destinationId: dest.id })}>
                      Test connection
                    </Button>
                    <Button size="xs" variant="default" leftSection={<IconEdit size={14} />} onClick={() => setForm({ editing: dest })}>Edit</Button>
                    <Button size="xs" variant="light" color="red" leftSection={<IconTrash size={14} />} onClick={() => setRemoving(dest)}>Remove</Button>
                  </Group>
                )}
              </Group>
              {test.data && test.variables?.destinationId === dest.id && !test.variables.destination && (
                <Alert mb="xs" color={test.data.ok ? "teal" : "red"} icon={test.data.ok ? <IconCircleCheck size={18} /> : <IconAlertTriangle size={18} />} title={test.data.ok ? "Connection works" : "Connection problem"} data-testid="forward-connection-result">
                  {test.data.message}
                </Alert>
              )}
              <SimpleGrid cols={{ base: 2, sm: 5 }} mb="xs">
                {SHOWN.map((s) => (
                  <div key={s.state} data-testid={`fcount-${s.state}`}>
                    <Text size="xs" tt="uppercase" fw={600} c="dimmed">{s.label}</Text>
                    <Text size="lg" fw={700} c={d.studies[s.state] && s.state !== "queued" ? s.color : undefined}>{d.studies[s.state]}</Text>
                  </div>
                ))}
              </SimpleGrid>
              <Text size="xs" c="dimmed" mb="xs" data-testid="instance-counts">
                Instances: {d.instances.success + d.instances.warning} delivered{d.instances.warning ? ` (${d.instances.warning} with a warning)` : ""} · {d.instances.failed} failed · {d.instances.filtered} excluded by the filter
                {d.studies.skipped ? ` · ${d.studies.skipped} earlier stud${d.studies.skipped === 1 ? "y" : "ies"} not sent (no backfill)` : ""}
              </Text>
              {d.forwards.filter((f) => f.state !== "skipped").length > 0 && (
                <Table verticalSpacing={4}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Subject</Table.Th>
                      <Table.Th w={150}>State</Table.Th>
                      <Table.Th>Progress / details</Table.Th>
                      <Table.Th w={70}>Attempts</Table.Th>
                      {isOwner && <Table.Th w={90} />}
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {d.forwards.filter((f) => f.state !== "skipped").map((f) => {
                      const pct = f.total ? Math.round((f.done / f.total) * 100) : 0;
                      return (
                        <Table.Tr key={f.id} data-testid={`forward-row-${f.state}`}>
                          <Table.Td><Text size="sm" ff="monospace">{f.subjectLabel}</Text><Text size="xs" c="dimmed">{f.instances} instances · queued {relative(f.queuedAt)}</Text></Table.Td>
                          <Table.Td><Badge variant="light" color={stateColor[f.state]}>{f.state === "sent" ? "sent, not verified" : f.state}</Badge></Table.Td>
                          <Table.Td>
                            {f.state === "sending" && (
                              <Stack gap={2}>
                                <Progress value={pct} animated striped aria-label="Forward progress" />
                                <Text size="xs" c="dimmed">{f.done} of {f.total} instances ({pct}%)</Text>
                              </Stack>
                            )}
                            {f.state === "queued" && <Text size="xs" c="dimmed">waiting for a worker</Text>}
                            {(f.state === "verified" || f.state === "sent") && (
                              <Text size="xs" c={f.state === "sent" ? "yellow.8" : undefined} data-testid="forward-verification">
                                {f.sent + f.warnings} delivered{f.filtered ? `, ${f.filtered} excluded by the filter` : ""} · {f.verification}
                              </Text>
                            )}
                            {f.state === "failed" && (
                              <Stack gap={2}>
                                <Text size="xs" c="red" data-testid="forward-error">{f.lastError}</Text>
                                <Text size="xs" c="dimmed">{f.nextAttemptAt ? `next attempt ${relative(f.nextAttemptAt)}` : "no automatic retry left: fix the cause, then retry"}</Text>
                              </Stack>
                            )}
                          </Table.Td>
                          <Table.Td><Text size="sm">{f.attempts}</Text></Table.Td>
                          {isOwner && (
                            <Table.Td>
                              {f.state === "failed" && (
                                <Tooltip label="Queue this study again now (instances already delivered are not sent again)">
                                  <Button size="xs" variant="light" leftSection={<IconRefresh size={14} />} loading={retry.isPending && retry.variables?.forwardId === f.id} onClick={() => retry.mutate({ projectId, forwardId: f.id })}>
                                    Retry
                                  </Button>
                                </Tooltip>
                              )}
                            </Table.Td>
                          )}
                        </Table.Tr>
                      );
                    })}
                  </Table.Tbody>
                </Table>
              )}
            </Card>
          );
        })}
      </Stack>
      <Modal opened={form !== null} onClose={() => setForm(null)} title={form?.editing ? `Edit ${form.editing.name}` : "Add a forward destination"} size="lg">
        {form && <DestinationForm projectId={projectId} editing={form.editing} onClose={() => setForm(null)} />}
      </Modal>
      <Modal opened={removing !== null} onClose={() => setRemoving(null)} title="Remove this destination?">
        <Stack gap="sm">
          <Text size="sm">
            <b>{removing?.name}</b> and its forwarding records are removed. Nothing is deleted at the receiver; studies already sent stay there.
          </Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setRemoving(null)}>Cancel</Button>
            <Button color="red" loading={remove.isPending} onClick={() => removing && remove.mutate({ projectId, destinationId: removing.id })} data-testid="confirm-remove">Remove</Button>
          </Group>
        </Stack>
      </Modal>
    </Card>
  );
}
