"use client";
// An experiment in its workflow (issue #16): where it is and what it waits for, the workflow's
// states with the current one highlighted, and the whole history as a timeline — each transition
// with its cause, actor and the conditions tested, each callback with its status, result, values,
// logs and (when it did not succeed) what to do. Owners force a state with a reason, retry a
// failed callback and pause the experiment's workflow.
import { useState } from "react";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Anchor, Badge, Breadcrumbs, Button, Card, Code, Group, Modal, Select, Skeleton, Stack, Text, Textarea, Timeline, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle, IconArrowRight, IconCheck, IconClock, IconPlayerPause, IconPlayerPlay, IconRefresh, IconRoute, IconX } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { executionHint } from "@/lib/governor/hints";
import { CaseChain } from "@/components/monitoring/CaseChain";

const resultColor: Record<string, string> = { success: "teal", failed: "red", timeout: "orange", none: "gray" };
const statusColor: Record<string, string> = { created: "gray", queued: "gray", running: "blue", waiting: "violet", skipped: "gray", finished: "dark" };

function when(d: Date | string | null): string {
  return d ? new Date(d).toLocaleString() : "—";
}

function Diagram({ states, current, root }: { states: { label: string; freetext: string; transitions: { destination: string; condition: string }[]; callbacks: { label: string; function: string }[] }[]; current: string | null; root: string }) {
  return (
    <Group gap="xs" align="stretch" data-testid="workflow-diagram">
      {states.map((s) => {
        const here = s.label === current;
        return (
          <Card key={s.label} withBorder p={8} radius="sm" miw={150} bg={here ? "var(--mantine-color-blue-0)" : undefined} style={here ? { borderColor: "var(--mantine-color-blue-6)", borderWidth: 2 } : undefined} data-current={here ? "true" : undefined}>
            <Group gap={4} wrap="nowrap">
              <IconRoute size={13} />
              <Text size="sm" fw={here ? 700 : 500} ff="monospace">{s.label}</Text>
              {s.label === root && <Badge size="xs" variant="light">root</Badge>}
              {here && <Badge size="xs">current</Badge>}
            </Group>
            {s.callbacks.length > 0 && <Text size="xs" c="dimmed">runs {s.callbacks.map((c) => `${c.label} (${c.function})`).join(", ")}</Text>}
            {s.transitions.map((t, i) => (
              <Text key={i} size="xs" c="dimmed">
                <IconArrowRight size={10} /> {t.destination}
                {t.condition ? <Text span size="xs" ff="monospace"> if {t.condition}</Text> : null}
              </Text>
            ))}
          </Card>
        );
      })}
    </Group>
  );
}

export function ExperimentWorkflowPage({ projectId, experimentId }: { projectId: string; experimentId: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const project = useQuery(trpc.project.get.queryOptions({ projectId }, { retry: false }));
  const q = useQuery(trpc.governor.experiment.queryOptions({ projectId, experimentId }, { refetchInterval: 3000, retry: false }));
  const [forcing, setForcing] = useState(false);
  const [target, setTarget] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const refresh = () => qc.invalidateQueries({ queryKey: trpc.governor.pathKey() });
  const force = useMutation(trpc.governor.setState.mutationOptions({ onSuccess: async (r) => { setForcing(false); setReason(""); notifications.show({ color: "teal", title: "State forced", message: `The experiment is now in ${r.state}.` }); await refresh(); } }));
  const retry = useMutation(trpc.governor.retry.mutationOptions({ onSuccess: async () => { notifications.show({ title: "Retrying", message: "The callback runs again." }); await refresh(); } }));
  const pause = useMutation(trpc.governor.pause.mutationOptions({ onSuccess: refresh }));
  const isOwner = project.data?.access === "owner";

  const crumbs = (
    <Breadcrumbs>
      <Anchor component={Link} href="/projects">Projects</Anchor>
      <Anchor component={Link} href={`/projects/${encodeURIComponent(projectId)}?tab=workflow`} ff="monospace">{projectId}</Anchor>
      <Text ff="monospace">{q.data?.experiment.label ?? experimentId}</Text>
    </Breadcrumbs>
  );
  if (q.isPending) return <Stack>{crumbs}<Skeleton h={36} w={300} /><Skeleton h={200} /></Stack>;
  if (q.error) return <Stack>{crumbs}<ErrorAlert error={q.error} title="Cannot open this experiment" /></Stack>;
  const { experiment: e, governed: g } = q.data;

  return (
    <Stack gap="lg">
      {crumbs}
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2} ff="monospace">{e.label}</Title>
          <Text c="dimmed" size="sm">Subject <Text span ff="monospace">{e.subject}</Text>{e.studyDate ? ` · study date ${e.studyDate}` : ""} · {e.scans.length} scan(s)</Text>
        </div>
        {g && isOwner && (
          <Group>
            <Button variant="default" leftSection={g.paused ? <IconPlayerPlay size={16} /> : <IconPlayerPause size={16} />} onClick={() => pause.mutate({ projectId, experimentId, paused: !g.paused })} loading={pause.isPending}>
              {g.paused ? "Resume" : "Pause"}
            </Button>
            <Button onClick={() => { setTarget(null); setForcing(true); }}>Force a state…</Button>
          </Group>
        )}
      </Group>

      {project.data && project.data.access !== "collaborator" && (
        <Card withBorder>
          <CaseChain projectId={projectId} experimentId={experimentId} />
        </Card>
      )}

      {!g ? (
        <Alert color="gray" title="In no workflow">This experiment is in no workflow: the project had none when it was archived. An owner imports a workflow with “Start the project&apos;s archived experiments” checked.</Alert>
      ) : (
        <>
          <Card withBorder>
            <Group gap="xl">
              <div>
                <Text size="xs" c="dimmed">State</Text>
                <Text fw={700} ff="monospace" size="lg" data-testid="current-state">{g.state ?? "(starting)"}</Text>
              </div>
              <div>
                <Text size="xs" c="dimmed">Since</Text>
                <Text>{when(g.since)}</Text>
              </div>
              <div>
                <Text size="xs" c="dimmed">Workflow</Text>
                <Text ff="monospace">{g.workflow.label} v{g.workflow.version}{g.workflow.active ? "" : " (an earlier version)"}</Text>
              </div>
              {g.paused && <Badge color="gray" leftSection={<IconPlayerPause size={12} />}>paused</Badge>}
            </Group>
            {g.error ? (
              <Alert mt="sm" color="red" icon={<IconAlertTriangle size={16} />} title="Stopped: a condition could not be evaluated">
                <Text size="sm">{g.error}</Text>
                <Text size="sm" mt={4}>Fix the condition in the workflow file and import it again, set the variable it needs, or force the next state.</Text>
              </Alert>
            ) : g.waitingFor ? (
              <Text size="sm" mt="sm" c="dimmed"><IconClock size={14} /> {g.waitingFor}</Text>
            ) : null}
          </Card>

          <Stack gap={6}>
            <Title order={4}>Workflow</Title>
            <Diagram states={g.workflow.diagram.states} current={g.state} root={g.workflow.diagram.root} />
          </Stack>

          {g.variables.length > 0 && (
            <Stack gap={4}>
              <Title order={4}>Variables</Title>
              <Group gap="xs">{g.variables.map((v) => <Badge key={v.label} variant="light" tt="none">{v.label} = {JSON.stringify(v.value)}</Badge>)}</Group>
            </Stack>
          )}

          <Stack gap={6}>
            <Title order={4}>History</Title>
            <Timeline active={g.history.length - 1} bulletSize={22} lineWidth={2} data-testid="history">
              {[...g.history].reverse().map((a) => (
                <Timeline.Item key={a.id} bullet={a.current ? <IconRoute size={12} /> : <IconCheck size={12} />} title={<Text fw={600} ff="monospace">{a.from ? `${a.from} → ${a.to}` : `entered ${a.to}`}</Text>}>
                  <Text size="xs" c="dimmed">{when(a.start)} · {a.cause === "auto" ? "automatic" : a.cause} · by {a.actor}</Text>
                  {a.freetext && <Text size="sm">“{a.freetext}”</Text>}
                  {a.executions.map((x) => {
                    const hint = executionHint(x);
                    const bad = x.result === "failed" || x.result === "timeout";
                    return (
                      <Card key={x.id} withBorder p={8} mt={6} radius="sm" data-testid={`execution-${x.callback}`}>
                        <Group justify="space-between" wrap="nowrap">
                          <Group gap={6}>
                            <Text size="sm" fw={600} ff="monospace">{x.callback}</Text>
                            <Text size="xs" c="dimmed">{x.function}</Text>
                            <Badge size="sm" color={statusColor[x.status] ?? "gray"} variant="light">{x.status}</Badge>
                            {x.result !== "none" && <Badge size="sm" color={resultColor[x.result] ?? "gray"} leftSection={x.result === "success" ? <IconCheck size={10} /> : bad ? <IconX size={10} /> : null}>{x.result}</Badge>}
                          </Group>
                          {isOwner && x.retryable && (
                            <Button size="xs" variant="light" leftSection={<IconRefresh size={14} />} onClick={() => retry.mutate({ projectId, executionId: x.id })} loading={retry.isPending}>Retry</Button>
                          )}
                        </Group>
                        <Text size="xs" c="dimmed">created {when(x.created)}{x.runStart ? ` · started ${when(x.runStart)}` : ""}{x.finished ? ` · finished ${when(x.finished)}` : ""}</Text>
                        {hint && <Alert mt={6} p={6} color={bad ? "red" : "blue"} variant="light"><Text size="xs">{hint}</Text></Alert>}
                        {x.resultValues && Object.keys(x.resultValues as object).length > 0 && (
                          <Text size="xs" mt={4}>values: <Code>{JSON.stringify(x.resultValues)}</Code></Text>
                        )}
                        {(x.runLog.trim() || x.resultLog.trim()) && <Code block mt={4} fz={11} mah={160} style={{ overflow: "auto" }}>{`${x.runLog}${x.resultLog ? `\n${x.resultLog}` : ""}`.trim()}</Code>}
                      </Card>
                    );
                  })}
                  {a.trace && a.trace.length > 0 && (
                    <Stack gap={0} mt={4}>
                      {a.trace.map((t, i) => (
                        <Tooltip key={i} label={t.test_result ? "this transition was taken" : "this condition did not hold"}>
                          <Text size="xs" c={t.test_result ? "teal" : "dimmed"} ff="monospace">{t.test_result ? "✓" : "✗"} → {t.destination}{t.condition ? ` if ${t.condition}` : " (always)"}</Text>
                        </Tooltip>
                      ))}
                    </Stack>
                  )}
                </Timeline.Item>
              ))}
            </Timeline>
          </Stack>

          <Modal opened={forcing} onClose={() => setForcing(false)} title="Force a state">
            <Stack>
              <Text size="sm">The experiment enters the state you choose and its callbacks run. This is written to the history and the audit log with your reason.</Text>
              <Select label="State" data={g.workflow.diagram.states.map((s) => s.label)} value={target} onChange={setTarget} />
              <Textarea label="Reason" value={reason} onChange={(ev) => setReason(ev.currentTarget.value)} placeholder="e.g. QC repeated by hand" />
              {force.error && <ErrorAlert error={force.error} title="Not changed" />}
              <Group justify="flex-end">
                <Button variant="default" onClick={() => setForcing(false)}>Cancel</Button>
                <Button disabled={!target || reason.trim().length < 3} loading={force.isPending} onClick={() => target && force.mutate({ projectId, experimentId, state: target, reason })}>Force</Button>
              </Group>
            </Stack>
          </Modal>
        </>
      )}
    </Stack>
  );
}
