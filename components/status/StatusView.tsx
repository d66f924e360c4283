"use client";
// The system status page's view (app/status/page.tsx reads the report on the server).
import Link from "next/link";
import { Anchor, Badge, Card, Center, Group, Stack, Table, Text, Title } from "@mantine/core";

interface ComponentHealth {
  ok: boolean;
  latencyMs: number;
  detail?: string;
}
export interface HealthReport {
  status: string;
  database: ComponentHealth;
  redis: ComponentHealth;
  workers: ComponentHealth;
  time: string;
}

const COMPONENTS = [
  ["database", "Database", "Projects, intake records, audit log"],
  ["redis", "Queues (Redis)", "Work waiting for the workers"],
  ["workers", "Workers", "De-identification, archiving, pipelines"],
] as const;

export function StatusView({ report }: { report: HealthReport }) {
  return (
    <Center mih="100vh" p="md" bg="var(--mantine-color-gray-0)">
      <Stack w={560} gap="md">
        <Card withBorder radius="md" padding="lg">
          <Group justify="space-between" mb="sm">
            <Title order={2}>System status</Title>
            <Badge size="lg" color={report.status === "ok" ? "teal" : "red"} data-testid="status-overall">
              {report.status === "ok" ? "All systems working" : "Degraded"}
            </Badge>
          </Group>
          <Table verticalSpacing="sm">
            <Table.Tbody>
              {COMPONENTS.map(([key, name, what]) => {
                const c = report[key];
                return (
                  <Table.Tr key={key}>
                    <Table.Td>
                      <Text fw={500}>{name}</Text>
                      <Text size="xs" c="dimmed">{what}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Badge variant="light" color={c.ok ? "teal" : "red"}>{c.ok ? "working" : "not answering"}</Badge>
                      {c.detail && <Text size="xs" c="dimmed" mt={2}>{c.detail}</Text>}
                    </Table.Td>
                    <Table.Td ta="right"><Text size="sm" c="dimmed">{c.latencyMs} ms</Text></Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
          <Text size="xs" c="dimmed" mt="sm">Checked {new Date(report.time).toUTCString()}. Reload to check again.</Text>
        </Card>
        <Text size="xs" c="dimmed" ta="center">
          <Anchor component={Link} href="/projects" size="xs">Back to Atrium</Anchor> · Machine-readable: <Anchor href="/api/health" size="xs">/api/health</Anchor>
        </Text>
      </Stack>
    </Center>
  );
}
