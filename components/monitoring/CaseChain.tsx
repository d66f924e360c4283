"use client";
// A case's chain (issue #13): one experiment from its first instance received to the end of its
// workflow, as one timeline with times and links. Used by the experiment's workflow page; it
// refreshes itself while anything in it is still moving.
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { Anchor, Badge, Group, Skeleton, Text, Timeline, Title } from "@mantine/core";
import { IconArchive, IconCheck, IconClipboardCheck, IconDatabaseImport, IconGitBranch, IconRoute, IconSend, IconShieldCheck } from "@tabler/icons-react";
import type { ChainStep } from "@/lib/monitoring/case-chain";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

const ICON: Record<ChainStep["kind"], typeof IconCheck> = {
  received: IconDatabaseImport,
  deidentified: IconShieldCheck,
  archived: IconArchive,
  forwarded: IconSend,
  run: IconGitBranch,
  task: IconClipboardCheck,
  workflow: IconRoute,
  done: IconCheck,
};
const COLOR: Record<ChainStep["status"], string> = { done: "teal", active: "blue", waiting: "gray", failed: "red" };

export function CaseChain({ projectId, experimentId }: { projectId: string; experimentId: string }) {
  const trpc = useTRPC();
  const q = useQuery(
    trpc.monitoring.caseChain.queryOptions(
      { projectId, experimentId },
      { refetchInterval: (query) => (query.state.data?.steps.some((s) => s.status === "active" || s.status === "waiting") ? 3000 : 30_000), retry: false },
    ),
  );
  if (q.error) return <ErrorAlert error={q.error} title="Cannot load the case's chain" />;
  if (!q.data) return <Skeleton h={120} />;
  const steps = q.data.steps;
  const reached = steps.reduce((n, s, i) => (s.status === "done" ? i : n), -1);
  return (
    <div data-testid="case-chain">
      <Title order={5} mb="xs">The case, from reception to done</Title>
      {steps.length === 0 ? (
        <Text size="sm" c="dimmed">Nothing recorded for this experiment yet.</Text>
      ) : (
        <Timeline active={reached} bulletSize={22} lineWidth={2}>
          {steps.map((s, i) => {
            const Icon = ICON[s.kind];
            return (
              <Timeline.Item
                key={i}
                bullet={<Icon size={12} />}
                color={COLOR[s.status]}
                data-testid={`chain-${s.kind}`}
                title={
                  <Group gap={6}>
                    {s.href ? <Anchor component={Link} href={s.href} size="sm" fw={600}>{s.title}</Anchor> : <Text size="sm" fw={600}>{s.title}</Text>}
                    {s.status !== "done" && <Badge size="xs" color={COLOR[s.status]} variant="light">{s.status}</Badge>}
                  </Group>
                }
              >
                <Text size="xs" c="dimmed">{s.detail}</Text>
                {s.at && <Text size="xs" c="dimmed">{new Date(s.at).toLocaleString()}</Text>}
              </Timeline.Item>
            );
          })}
        </Timeline>
      )}
    </div>
  );
}
