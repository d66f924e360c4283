"use client";
// An owner's decision on a submitted read (groups with review): Accept (it counts, its callbacks
// run, its result is exported) or Return… with a comment to its reader. On the group's results
// table and on the task page.
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Button, Group, Modal, Stack, Textarea } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

/** Accept a submitted read, or return it to its reader with a comment (groups with review). */
export function ReviewActions({ projectId, taskId }: { projectId: string; taskId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [returning, setReturning] = useState(false);
  const [comment, setComment] = useState("");
  const review = useMutation(
    trpc.tasks.review.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: r.state === "done" ? "Read accepted" : "Read returned", message: r.state === "done" ? "It counts now." : "Its reader finds it first in their queue, with your comment." });
        setReturning(false);
        setComment("");
        await queryClient.invalidateQueries({ queryKey: trpc.tasks.pathKey() });
      },
    }),
  );
  return (
    <Group gap={4} wrap="nowrap">
      <Button size="compact-xs" color="teal" loading={review.isPending && !returning} onClick={() => review.mutate({ projectId, taskId, decision: "accepted", comment: "" })}>Accept</Button>
      <Button size="compact-xs" variant="default" onClick={() => setReturning(true)}>Return…</Button>
      <Modal opened={returning} onClose={() => setReturning(false)} title="Return the read to its reader">
        <Stack>
          <Textarea label="What should the reader change?" value={comment} onChange={(e) => setComment(e.currentTarget.value)} autosize minRows={3} />
          <ErrorAlert error={review.error} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setReturning(false)}>Cancel</Button>
            <Button disabled={comment.trim().length < 3} loading={review.isPending} onClick={() => review.mutate({ projectId, taskId, decision: "returned", comment })}>Return</Button>
          </Group>
        </Stack>
      </Modal>
    </Group>
  );
}
