"use client";
import { Alert, Button } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";

/** Shows what went wrong (the server's message already says what to do) with an optional retry. */
export function ErrorAlert({ error, title = "Something went wrong", onRetry }: { error: { message: string } | null; title?: string; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <Alert color="red" icon={<IconAlertTriangle size={18} />} title={title}>
      {error.message}
      {onRetry && (
        <Button size="xs" variant="white" color="red" ml="sm" onClick={onRetry}>
          Try again
        </Button>
      )}
    </Alert>
  );
}
