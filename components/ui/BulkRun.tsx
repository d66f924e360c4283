"use client";
// Bulk actions over a paged table: the bar that says what is selected (and offers every row
// matching the filters, across pages), and the dialog that first says what will happen to how
// many rows, then repeats the bulk call until nothing remains, showing done/total, cancellable.
import { useRef, useState } from "react";
import { Alert, Anchor, Button, Group, Modal, Progress, Text } from "@mantine/core";
import { runBulk, type BulkProgress } from "@/lib/portal/selection";

export interface BulkAction {
  /** "Retry 1,500 instances?" */
  title: string;
  /** What will happen, in a sentence or two. */
  what: React.ReactNode;
  confirmLabel: string;
  color?: string;
  /** How many rows the selection covers when it starts. */
  expected: number;
  /** One call: acts on the next chunk, answers what it did and what remains. */
  call: () => Promise<{ done: number; remaining: number }>;
  /** "retried", "routed to P2", "deleted". */
  pastTense: string;
  noun: [string, string];
}

const n = (x: number) => x.toLocaleString("en");

export function SelectionBar({
  count,
  pageCount,
  matchingTotal,
  allMatching,
  onSelectMatching,
  onClear,
  noun,
  matchingLabel,
  problem,
  children,
}: {
  count: number;
  /** Rows of the page shown that are ticked. */
  pageCount: number;
  /** Rows matching the filters (across pages). */
  matchingTotal: number;
  allMatching: boolean;
  onSelectMatching: () => void;
  onClear: () => void;
  noun: [string, string];
  /** "Select all 1,500 matching instances" (default). */
  matchingLabel?: string;
  problem?: string | null;
  children: React.ReactNode;
}) {
  if (count === 0) return null;
  const word = (k: number) => (k === 1 ? noun[0] : noun[1]);
  return (
    <Alert color="blue" variant="light" p="xs" data-testid="selection-bar">
      <Group justify="space-between" wrap="wrap" gap="xs">
        <Group gap="xs" wrap="wrap">
          <Text size="sm" fw={600} data-testid="selection-count">
            {allMatching
              ? count >= matchingTotal ? `All ${n(count)} matching ${word(count)} selected` : `${n(count)} of ${n(matchingTotal)} matching ${word(matchingTotal)} selected`
              : `${n(count)} ${word(count)} selected`}
          </Text>
          {!allMatching && matchingTotal > pageCount && count >= pageCount && (
            <Anchor component="button" type="button" size="sm" onClick={onSelectMatching} data-testid="select-matching">
              {matchingLabel ?? `Select all ${n(matchingTotal)} matching ${word(matchingTotal)}`}
            </Anchor>
          )}
          <Anchor component="button" type="button" size="sm" c="dimmed" onClick={onClear}>Clear selection</Anchor>
        </Group>
        <Group gap="xs">{children}</Group>
      </Group>
      {problem && <Text size="sm" c="red" mt={4}>{problem}</Text>}
    </Alert>
  );
}

export function BulkRunModal({ action, onClose, onFinished }: { action: BulkAction | null; onClose: () => void; onFinished?: (p: BulkProgress) => void }) {
  const [progress, setProgress] = useState<BulkProgress | null>(null);
  const cancel = useRef(false);
  const running = progress?.state === "running";
  const close = () => {
    if (running) return;
    setProgress(null);
    onClose();
  };
  const start = async () => {
    if (!action) return;
    cancel.current = false;
    const end = await runBulk(action.call, action.expected, setProgress, () => cancel.current);
    onFinished?.(end);
  };
  const a = action;
  const word = (k: number) => (a ? (k === 1 ? a.noun[0] : a.noun[1]) : "");
  const pct = progress && progress.total ? Math.round((progress.done / progress.total) * 100) : 0;
  return (
    <Modal opened={Boolean(a)} onClose={close} closeOnClickOutside={!running} closeOnEscape={!running} withCloseButton={!running} title={<Text fw={600}>{a?.title}</Text>}>
      {a && !progress && (
        <>
          <Text size="sm" data-testid="bulk-what">{a.what}</Text>
          <Group justify="flex-end" mt="lg">
            <Button variant="default" onClick={close}>Cancel</Button>
            <Button color={a.color} onClick={() => void start()} data-testid="bulk-confirm">{a.confirmLabel}</Button>
          </Group>
        </>
      )}
      {a && progress && (
        <>
          <Progress value={pct} animated={running} striped={running} color={progress.state === "finished" ? "teal" : progress.state === "running" ? "blue" : "orange"} aria-label="Bulk action progress" />
          <Text size="sm" mt="xs" data-testid="bulk-progress">
            {n(progress.done)} of {n(progress.total)} {word(progress.total)} {a.pastTense}
            {progress.state === "running" ? "…" : "."}
          </Text>
          {progress.state === "finished" && <Text size="sm" c="teal" data-testid="bulk-finished">Done.</Text>}
          {progress.state === "cancelled" && (
            <Text size="sm" c="orange" data-testid="bulk-cancelled">
              Stopped: {n(progress.total - progress.done)} {word(progress.total - progress.done)} were not {a.pastTense} and stay selected in the list.
            </Text>
          )}
          {(progress.state === "stuck" || progress.state === "failed") && <Text size="sm" c="red" data-testid="bulk-error">{progress.error}</Text>}
          <Group justify="flex-end" mt="lg">
            {running ? (
              <Button variant="default" onClick={() => { cancel.current = true; }} data-testid="bulk-cancel">Stop after this chunk</Button>
            ) : (
              <Button onClick={close}>Close</Button>
            )}
          </Group>
        </>
      )}
    </Modal>
  );
}
