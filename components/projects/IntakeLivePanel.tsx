"use client";
// The intake page's live figures: arrival rate, active senders per way in, studies on their way to
// the archive, the latest studies (pseudonyms only) and the latest quarantine reasons.
import Link from "next/link";
import { Alert, Anchor, Badge, Card, Group, Progress, SimpleGrid, Table, Text, Title } from "@mantine/core";
import { IconHourglass } from "@tabler/icons-react";
import { deidWaitingForSenders } from "@/lib/intake/live";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/routers";

type Summary = inferRouterOutputs<AppRouter>["intake"]["summary"];

const CHANNEL: Record<string, string> = { cstore: "C-STORE associations", stow: "STOW-RS requests", webhook: "webhook pulls", upload: "browser uploads" };
const STATUS_COLOR: Record<string, string> = { receiving: "blue", stable: "teal", archiving: "violet", archived: "green", failed: "red" };

const ago = (d: Date | string) => {
  const s = Math.max(0, Math.round((Date.now() - new Date(d).getTime()) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : new Date(d).toLocaleString();
};

function Figure({ label, value, hint, color, testId }: { label: string; value: string; hint?: string; color?: string; testId: string }) {
  return (
    <Card withBorder radius="md" padding="md" data-testid={testId}>
      <Text size="xs" tt="uppercase" fw={600} c="dimmed">{label}</Text>
      <Text size="xl" fw={700} c={color}>{value}</Text>
      {hint && <Text size="xs" c="dimmed">{hint}</Text>}
    </Card>
  );
}

export function IntakeLivePanel({ projectId, live, studies, instances, showErrors }: { projectId: string; live: Summary["live"]; studies: Summary["studies"]; instances: Summary["instances"]; showErrors: boolean }) {
  const senders = live.activeBatches.reduce((n, b) => n + b.batches, 0);
  const waiting = deidWaitingForSenders({ instances, live });
  return (
    <Card withBorder radius="md" padding="lg" data-testid="intake-live">
      <Group justify="space-between" mb="sm">
        <Title order={5}>Now</Title>
        <Text size="xs" c="dimmed">Last {live.windowSeconds} seconds; updates every few seconds.</Text>
      </Group>
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 5 }}>
        <Figure testId="live-rate" label="Instances / s" value={live.instancesPerSecond.toLocaleString()} hint={`${live.instancesInWindow.toLocaleString()} in the last minute`} />
        <Figure
          testId="live-senders"
          label="Active senders"
          value={senders.toLocaleString()}
          hint={live.activeBatches.length ? live.activeBatches.map((b) => `${b.batches} ${CHANNEL[b.channel] ?? b.channel}`).join(" · ") : "nothing arriving"}
        />
        <Figure testId="live-arriving" label="Studies arriving" value={studies.receiving.toLocaleString()} color="blue" />
        <Figure testId="live-stable" label="Stable" value={(studies.stable + studies.archiving).toLocaleString()} color="teal" hint={studies.archiving ? `${studies.archiving} being archived` : undefined} />
        <Figure testId="live-archived" label="Archived" value={studies.archived.toLocaleString()} color="green" hint={studies.failed ? `${studies.failed} failed to archive` : undefined} />
      </SimpleGrid>
      {waiting && (
        <Alert color="blue" variant="light" mt="md" icon={<IconHourglass size={18} />} title="De-identification waits for the senders" data-testid="deid-waits">
          {waiting.waiting.toLocaleString()} instance{waiting.waiting === 1 ? " is" : "s are"} stored and wait{waiting.waiting === 1 ? "s" : ""} for de-identification while{" "}
          {waiting.senders === 1 ? "a sender is" : `${waiting.senders} senders are`} still sending: during a burst, receiving comes first, so senders are never kept
          waiting. De-identification catches up when the burst ends (or after at most a short pause); nothing is lost meanwhile.
        </Alert>
      )}
      <Title order={6} mt="lg" mb={4}>Recent studies</Title>
      {live.recentStudies.length === 0 ? (
        <Text size="sm" c="dimmed">No studies yet.</Text>
      ) : (
        <Table verticalSpacing={4} fz="sm" data-testid="recent-studies">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Subject (pseudonym)</Table.Th>
              <Table.Th ta="right">Instances</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th w={160}>Progress</Table.Th>
              <Table.Th>Last instance</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {live.recentStudies.map((st) => (
              <Table.Tr key={st.id}>
                <Table.Td ff="monospace">
                  <Anchor component={Link} href={`/projects/${encodeURIComponent(projectId)}?tab=browse&subject=${encodeURIComponent(st.subjectLabel)}`} size="sm" ff="monospace">{st.subjectLabel}</Anchor>
                </Table.Td>
                <Table.Td ta="right">{st.instanceCount.toLocaleString()}</Table.Td>
                <Table.Td><Badge variant="light" color={STATUS_COLOR[st.status]}>{st.status}</Badge></Table.Td>
                <Table.Td><Progress value={st.progress} color={STATUS_COLOR[st.status]} aria-label={`Progress ${st.progress}%`} /></Table.Td>
                <Table.Td>{ago(st.lastInstanceAt)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {showErrors && live.recentErrors.length > 0 && (
        <>
          <Title order={6} mt="lg" mb={4}>Recent errors</Title>
          <Table verticalSpacing={4} fz="sm" data-testid="recent-errors">
            <Table.Tbody>
              {live.recentErrors.map((e) => (
                <Table.Tr key={e.id}>
                  <Table.Td w={110}><Text size="xs" c="dimmed">{ago(e.at)}</Text></Table.Td>
                  <Table.Td w={150}><Text size="xs">{CHANNEL[e.channel] ?? e.channel}</Text></Table.Td>
                  <Table.Td>
                    <Anchor component={Link} href={`/projects/${encodeURIComponent(projectId)}?tab=quarantine`} size="sm" c="red.8">{e.reason}</Anchor>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </>
      )}
    </Card>
  );
}
