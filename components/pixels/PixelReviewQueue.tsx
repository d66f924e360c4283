"use client";
// The Intake tab's pixel review queue: instances held because their pixels may show burned-in
// identifiers, with a filter by reason. Owners open an instance to review it; members see the list.
import { useState } from "react";
import Link from "next/link";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Badge, Button, Card, Group, SegmentedControl, Table, Text, Title } from "@mantine/core";
import { IconEyeSearch } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

export const HOLD_LABEL: Record<string, string> = {
  burned_in_annotation: "burned-in text possible",
  pixel_blanking_unsupported: "cannot blank (compressed)",
  clean_pixel_data: "Clean Pixel Data option",
};

export function ReviewBadge({ count }: { count: number }) {
  if (!count) return null;
  return (
    <Badge color="orange" variant="light" data-testid="needs-review-badge">
      {count} need{count === 1 ? "s" : ""} review
    </Badge>
  );
}

export function PixelReviewQueue({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const [reason, setReason] = useState<string>("all");
  const q = useQuery(
    trpc.pixels.held.queryOptions(
      { projectId, limit: 200, ...(reason !== "all" ? { reasonCode: reason as "burned_in_annotation" } : {}) },
      { refetchInterval: 10_000, placeholderData: keepPreviousData },
    ),
  );
  const codes = q.data?.reasonCodes ?? [];
  const all = codes.reduce((n, c) => n + c.count, 0);
  if (q.error) return <ErrorAlert error={q.error} title="Could not load the pixel review queue" onRetry={() => void q.refetch()} />;
  if (!q.data || all === 0) return null;
  return (
    <Card withBorder radius="md" padding="lg" data-testid="pixel-review-queue">
      <Group justify="space-between" mb="xs">
        <Group gap="xs">
          <Title order={5}>Pixel review</Title>
          <ReviewBadge count={all} />
        </Group>
        <SegmentedControl
          size="xs"
          value={reason}
          onChange={setReason}
          data={[{ value: "all", label: `All (${all})` }, ...codes.map((c) => ({ value: c.code, label: `${HOLD_LABEL[c.code] ?? c.code} (${c.count})` }))]}
          aria-label="Filter by reason"
        />
      </Group>
      <Text size="sm" c="dimmed" mb="sm">
        These images may show identifying text burned into the pixels. They are held: not archived, downloadable, served by DICOMweb or forwarded until
        {isOwner ? " you release them (after blanking regions) or delete them." : " an owner releases or deletes them."}
      </Text>
      <Table verticalSpacing="xs" data-testid="pixel-review-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Subject</Table.Th>
            <Table.Th>Modality</Table.Th>
            <Table.Th>Scanner</Table.Th>
            <Table.Th>Size</Table.Th>
            <Table.Th>Why held</Table.Th>
            {isOwner && <Table.Th />}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(q.data?.items ?? []).map((i) => (
            <Table.Tr key={i.instanceId}>
              <Table.Td><Text ff="monospace" size="sm">{i.subjectLabel}</Text></Table.Td>
              <Table.Td>{i.modality || "—"}</Table.Td>
              <Table.Td><Text size="sm">{[i.manufacturer, i.modelName].filter(Boolean).join(" · ") || "—"}</Text></Table.Td>
              <Table.Td><Text size="sm">{i.columns}×{i.rows}{i.frames > 1 ? ` × ${i.frames} frames` : ""}</Text></Table.Td>
              <Table.Td>
                <Badge color={i.reasonCode === "pixel_blanking_unsupported" ? "red" : "orange"} variant="light">{HOLD_LABEL[i.reasonCode] ?? i.reasonCode}</Badge>
              </Table.Td>
              {isOwner && (
                <Table.Td>
                  <Button component={Link} href={`/projects/${projectId}/pixel-review/${i.instanceId}`} size="xs" variant="light" leftSection={<IconEyeSearch size={14} />}>
                    Review
                  </Button>
                </Table.Td>
              )}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {q.data && q.data.total > q.data.items.length && <Text size="xs" c="dimmed" mt="xs">Showing {q.data.items.length} of {q.data.total}.</Text>}
    </Card>
  );
}
