"use client";
import { useState } from "react";
import { Anchor, Code, Stack, Text } from "@mantine/core";

/** Values longer than this are cut, with "show all" to expand them in place. */
const SHORT = 160;

function Value({ text }: { text: string }) {
  const [open, setOpen] = useState(false);
  const long = text.length > SHORT;
  return (
    <>
      <Code style={{ whiteSpace: "pre-wrap", overflowWrap: "anywhere", wordBreak: "break-word" }}>{long && !open ? `${text.slice(0, SHORT)}…` : text}</Code>
      {long && (
        <Anchor component="button" type="button" size="xs" ml={4} onClick={() => setOpen((o) => !o)} aria-expanded={open}>
          {open ? "show less" : `show all (${text.length.toLocaleString()} characters)`}
        </Anchor>
      )}
    </>
  );
}

/** An audit event's before/after values: objects as key: value lines, lists and plain values inline; long values wrap and expand. */
export function AuditChange({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <Text size="xs" c="dimmed">—</Text>;
  if (Array.isArray(value) || typeof value !== "object") return <Value text={JSON.stringify(value)} />;
  return (
    <Stack gap={2}>
      {Object.entries(value as Record<string, unknown>).map(([k, v]) => (
        <Text key={k} size="xs" style={{ overflowWrap: "anywhere" }}>
          <Text span c="dimmed" size="xs">{k}:</Text> <Value text={typeof v === "string" ? v : JSON.stringify(v)} />
        </Text>
      ))}
    </Stack>
  );
}
