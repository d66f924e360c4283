"use client";
// A task's History: every submitted version (newest first) with its author, time and time spent,
// what it changed from the version before (answers per question, annotations added, removed or
// moved), and what it wrote to the archive (DICOM SR / SEG series, or why it could not). Owners
// may export a version again. Shown to the task's reader and to owners (the server decides).
import { useQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { Alert, Badge, Button, Group, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

const show = (v: unknown) => (v === null || v === undefined ? "—" : Array.isArray(v) ? (v.length ? v.join(", ") : "—") : String(v));
const minutes = (ms: number) => (ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 60_000).toFixed(1)} min`);

export function TaskHistory({ projectId, taskId }: { projectId: string; taskId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const q = useQuery(trpc.tasks.history.queryOptions({ projectId, taskId }, { retry: false, refetchOnWindowFocus: false }));
  const exportAgain = useMutation(
    trpc.tasks.exportResult.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: r.error ? "red" : "teal", message: r.error ?? `Version ${r.version} written to the archive (${r.exports.length} object${r.exports.length === 1 ? "" : "s"}).` });
        await queryClient.invalidateQueries({ queryKey: trpc.tasks.history.queryKey({ projectId, taskId }) });
      },
    }),
  );
  if (q.error?.data?.code === "FORBIDDEN") return null;
  if (q.error) return <ErrorAlert error={q.error} title="The task's history could not be read" onRetry={() => void q.refetch()} />;
  if (!q.data || q.data.versions.length === 0) return null;
  const { versions, canExport, state } = q.data;

  return (
    <Paper withBorder p="md" data-testid="task-history">
      <Title order={5} mb="xs">History · {versions.length} version{versions.length === 1 ? "" : "s"}</Title>
      <Stack gap="md">
        {versions.map((v) => (
          <Stack key={v.version} gap={6} data-testid={`task-version-${v.version}`}>
            <Group gap="xs">
              <Badge variant="light">v{v.version}</Badge>
              <Text size="sm">{v.author?.name ?? v.author?.email ?? "a former user"}</Text>
              <Text size="xs" c="dimmed">{new Date(v.createdAt).toLocaleString()} · {minutes(v.timeSpentMs)} spent</Text>
            </Group>
            {v.diff.answers.length === 0 && v.diff.annotations.length === 0 ? (
              <Text size="xs" c="dimmed">{v.version === 1 ? "No answers or annotations." : "Nothing changed from the version before."}</Text>
            ) : null}
            {v.diff.answers.length > 0 && (
              <Table withTableBorder fz="xs" verticalSpacing={2} data-testid="version-answers">
                <Table.Thead>
                  <Table.Tr><Table.Th>Question</Table.Th>{v.version > 1 && <Table.Th>Before</Table.Th>}<Table.Th>{v.version > 1 ? "After" : "Answer"}</Table.Th></Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {v.diff.answers.map((a) => (
                    <Table.Tr key={a.question}>
                      <Table.Td>{a.label}</Table.Td>
                      {v.version > 1 && <Table.Td c="red.8" td="line-through">{show(a.before)}</Table.Td>}
                      <Table.Td c={v.version > 1 ? "teal.8" : undefined}>{show(a.after)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
            {v.diff.annotations.length > 0 && (
              <Stack gap={2} data-testid="version-annotations">
                {v.diff.annotations.map((a) => (
                  <Text key={`${a.change}:${a.id}`} size="xs">
                    <Badge size="xs" variant="dot" color={a.change === "added" ? "teal" : a.change === "removed" ? "red" : "yellow"}>{a.change}</Badge>{" "}
                    {a.tool}{a.label ? ` “${a.label}”` : ""}{a.detail ? `: ${a.detail}` : ""}
                  </Text>
                ))}
              </Stack>
            )}
            {v.exports.length > 0 && (
              <Group gap={6} data-testid="version-exports">
                <Text size="xs" c="dimmed">In the archive:</Text>
                {v.exports.map((x) => (
                  <Badge key={x.sopInstanceUid} size="sm" variant="outline" color={x.kind === "sr" ? "blue" : "grape"} title={x.seriesInstanceUid}>
                    {x.kind === "sr" ? `SR · ${x.items} measurement${x.items === 1 ? "" : "s"}` : `SEG · ${x.items} segment${x.items === 1 ? "" : "s"}`} · series {x.seriesNumber}
                  </Badge>
                ))}
                {v.exports.some((x) => x.leftOut > 0) && <Text size="xs" c="orange.8">{v.exports.reduce((n, x) => n + x.leftOut, 0)} measurement(s) on reformatted views kept as JSON only</Text>}
              </Group>
            )}
            {v.exportError && (
              <Alert color="red" p="xs" data-testid="version-export-error"><Text size="xs">Not written to the archive: {v.exportError}</Text></Alert>
            )}
            {canExport && state === "done" && (v.exportError || v.version === versions[0]!.version) && (
              <Group>
                <Button size="compact-xs" variant="light" loading={exportAgain.isPending && exportAgain.variables?.version === v.version} onClick={() => exportAgain.mutate({ projectId, taskId, version: v.version })}>
                  Export v{v.version} again
                </Button>
              </Group>
            )}
          </Stack>
        ))}
        <ErrorAlert error={exportAgain.error} title="The export did not run" />
      </Stack>
    </Paper>
  );
}
