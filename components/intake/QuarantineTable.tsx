"use client";
// The quarantine list with its filters and actions, shared by a project's Quarantine tab and the
// site admins' view of instances no project accepted. The caller supplies the data and actions.
import { useState } from "react";
import { ActionIcon, Button, Card, Checkbox, Drawer, Group, Menu, Modal, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { IconArrowForwardUp, IconEye, IconFilterOff, IconRefresh, IconRoute, IconTrash } from "@tabler/icons-react";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { LightBadge, LightCheckbox, LightIconButton, LightTd, LightTr, lightText } from "@/components/ui/light";

// Type-only: the schema (and its server-side imports) stays out of the browser bundle.
import type { QuarantineFilter } from "@/lib/intake/settings";

export type QuarantineFilterState = QuarantineFilter;

export interface QuarantineItem {
  id: string;
  receivedAt: Date;
  channel: string;
  callingAe: string | null;
  calledAe: string | null;
  reason: string | null;
  reasonCode: string | null;
  sizeBytes: number;
  sopClass?: string | null;
  modality?: string | null;
  transferSyntax?: string | null;
  batch?: string;
  /** Short tags of the study and series (hashes of their UIDs): rows of one series share them. */
  study?: string | null;
  series?: string | null;
  seriesNumber?: number | null;
  instanceNumber?: number | null;
}

/** Ticking rows for bulk actions (the caller keeps the selection, lib/portal/selection). */
export interface QuarantineSelect {
  isSelected: (id: string) => boolean;
  toggle: (id: string) => void;
  pageState: "all" | "some" | "none";
  togglePage: (on: boolean) => void;
  /** The bar above the table: what is selected and the bulk actions. */
  bar: React.ReactNode;
}

export type HeaderResult = { rows: { tag: string; keyword: string; vr: string; value: string }[]; syntax: string } | { error: string };

export const REASON_LABELS: Record<string, string> = {
  no_route: "No project accepts it",
  rule_mismatch: "No routing rule matched",
  not_dicom: "Not DICOM",
  malformed: "Malformed DICOM",
  unsupported: "Unsupported",
  too_large: "Too large",
  missing_uid: "Missing UID",
  store_error: "Staged file missing",
  deid_failed: "De-identification failed",
  deid_rejected: "Refused by de-identification",
  unknown: "Other",
};

const CHANNELS = [
  { value: "cstore", label: "C-STORE" },
  { value: "stow", label: "STOW-RS" },
  { value: "webhook", label: "Webhook" },
  { value: "upload", label: "Upload" },
];

function dayStart(s: string): Date | undefined {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(`${s}T00:00:00`) : undefined;
}
function nextDay(s: string): Date | undefined {
  const d = dayStart(s);
  return d ? new Date(d.getTime() + 86_400_000) : undefined;
}

const SORTS = [
  { value: "newest", label: "Newest first" },
  { value: "oldest", label: "Oldest first" },
  { value: "largest", label: "Largest first" },
];

export function QuarantineFilters({
  value,
  onChange,
  codes,
  sort,
}: {
  value: QuarantineFilterState;
  onChange: (v: QuarantineFilterState) => void;
  codes: { code: string; count: number }[];
  sort?: { value: string; onChange: (v: "newest" | "oldest" | "largest") => void };
}) {
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  return (
    <Group align="flex-end" gap="sm" wrap="wrap">
      <Select
        label="Reason"
        placeholder="Any reason"
        clearable
        w={240}
        value={value.reasonCode ?? null}
        data={codes.map((c) => ({ value: c.code, label: `${REASON_LABELS[c.code] ?? c.code} (${c.count})` }))}
        onChange={(v) => onChange({ ...value, reasonCode: (v as QuarantineFilterState["reasonCode"]) ?? undefined })}
      />
      <Select
        label="Way in"
        placeholder="Any"
        clearable
        w={140}
        value={value.channel ?? null}
        data={CHANNELS}
        onChange={(v) => onChange({ ...value, channel: (v as QuarantineFilterState["channel"]) ?? undefined })}
      />
      <TextInput label="Received from" type="date" w={160} value={from} onChange={(e) => { setFrom(e.currentTarget.value); onChange({ ...value, from: dayStart(e.currentTarget.value) }); }} />
      <TextInput label="Received until" type="date" w={160} value={to} onChange={(e) => { setTo(e.currentTarget.value); onChange({ ...value, to: nextDay(e.currentTarget.value) }); }} />
      {sort && <Select label="Order" w={150} value={sort.value} data={SORTS} allowDeselect={false} onChange={(v) => v && sort.onChange(v as "newest" | "oldest" | "largest")} />}
      <Button variant="subtle" color="gray" leftSection={<IconFilterOff size={16} />} onClick={() => { setFrom(""); setTo(""); onChange({}); }}>
        Clear filters
      </Button>
    </Group>
  );
}

export interface QuarantineActions {
  retry?: { label: string; run: (id: string) => void; pending: boolean };
  routeTargets?: { id: string; name: string }[];
  route?: (id: string, targetProjectId: string) => void;
  remove?: (id: string) => void;
  header?: (id: string) => Promise<HeaderResult>;
}

// A page shows 100 rows, so a row is plain elements with Mantine's classes and variables
// (components/ui/light) rather than a dozen Mantine components each (issue #21).
const SM = lightText.sm;
const SM_BOLD = { ...SM, fontWeight: 500 } as const;
const XS = { ...lightText.xs, color: "var(--mantine-color-dark-3)" } as const;
const XS_MONO = { ...XS, ...lightText.mono } as const;
const XS_MONO_DIM = { ...XS_MONO, ...lightText.dimmed } as const;
const ROW_ACTIONS = { display: "flex", gap: 4, justifyContent: "flex-end", flexWrap: "nowrap" } as const;
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

function QuarantineRow({
  item: q,
  selected,
  onToggle,
  actions,
  onHeader,
  onDelete,
}: {
  item: QuarantineItem;
  /** null: rows cannot be selected. */
  selected: boolean | null;
  onToggle?: (id: string) => void;
  actions: QuarantineActions | null;
  onHeader: (item: QuarantineItem) => void;
  onDelete: (item: QuarantineItem) => void;
}) {
  return (
    <LightTr data-testid="quarantine-row" selected={Boolean(selected)}>
      {selected !== null && (
        <LightTd>
          <LightCheckbox label="Select this instance" checked={selected} onChange={() => onToggle?.(q.id)} />
        </LightTd>
      )}
      <LightTd><div style={SM}>{dateTime.format(new Date(q.receivedAt))}</div></LightTd>
      <LightTd>
        <div style={SM_BOLD}>{[q.modality, q.sopClass].filter(Boolean).join(" · ") || "Unknown kind"}</div>
        {(q.study || q.series) && (
          <div style={XS_MONO} data-testid="quarantine-study">
            {q.study ? `study ${q.study}` : ""}{q.series ? ` · series ${q.seriesNumber ?? "?"} (${q.series})` : ""}{q.instanceNumber != null ? ` · #${q.instanceNumber}` : ""}
          </div>
        )}
      </LightTd>
      <LightTd>
        <div style={SM}>{CHANNELS.find((c) => c.value === q.channel)?.label ?? q.channel}</div>
        {q.calledAe && <div style={XS_MONO_DIM}>{q.callingAe ?? "?"} → {q.calledAe}</div>}
      </LightTd>
      <LightTd>
        <LightBadge color="red" mb={4}>{REASON_LABELS[q.reasonCode ?? "unknown"] ?? q.reasonCode}</LightBadge>
        <div style={SM}>{q.reason ?? "(no reason recorded)"}</div>
        <div style={XS}>{[q.transferSyntax, `${(q.sizeBytes / 1024).toFixed(0)} KB`, q.batch ? `batch …${q.batch}` : null].filter(Boolean).join(" · ")}</div>
      </LightTd>
      {actions && (
        <LightTd>
          <RowActions item={q} actions={actions} onHeader={() => onHeader(q)} onDelete={() => onDelete(q)} />
        </LightTd>
      )}
    </LightTr>
  );
}

/**
 * A row's actions. A page shows 100 rows: the icons carry native titles rather than tooltip
 * components, and the route menu is only mounted once it is opened, which keeps the first render
 * of a full page fast (issue #21: time to content at 100,000 rows).
 */
function RowActions({ item, actions, onHeader, onDelete }: { item: QuarantineItem; actions: QuarantineActions; onHeader: () => void; onDelete: () => void }) {
  const [routing, setRouting] = useState(false);
  const routeIcon = (
    <LightIconButton label="Route to project" onClick={() => setRouting(true)}>
      <IconRoute size={16} />
    </LightIconButton>
  );
  return (
    <div style={ROW_ACTIONS}>
      {actions.header && (
        <LightIconButton label="Show original header" title="Original header (audited)" onClick={onHeader}><IconEye size={16} /></LightIconButton>
      )}
      {actions.retry && (
        actions.retry.pending
          ? <ActionIcon variant="subtle" aria-label={actions.retry.label} loading><IconRefresh size={16} /></ActionIcon>
          : <LightIconButton label={actions.retry.label} onClick={() => actions.retry!.run(item.id)}><IconRefresh size={16} /></LightIconButton>
      )}
      {actions.route && !routing && routeIcon}
      {actions.route && routing && (
        <Menu position="bottom-end" withinPortal opened onChange={(o) => !o && setRouting(false)}>
          <Menu.Target>{routeIcon}</Menu.Target>
          <Menu.Dropdown>
            <Menu.Label>Route to project</Menu.Label>
            {(actions.routeTargets ?? []).length === 0 && <Menu.Item disabled>No other project you own</Menu.Item>}
            {(actions.routeTargets ?? []).map((p) => (
              <Menu.Item key={p.id} leftSection={<IconArrowForwardUp size={14} />} onClick={() => actions.route!(item.id, p.id)}>
                {p.id} <Text span size="xs" c="dimmed">{p.name}</Text>
              </Menu.Item>
            ))}
          </Menu.Dropdown>
        </Menu>
      )}
      {actions.remove && (
        <LightIconButton label="Delete instance" title="Delete for good" color="red" onClick={onDelete}><IconTrash size={16} /></LightIconButton>
      )}
    </div>
  );
}

export function QuarantineTable({
  title,
  items,
  total,
  loading,
  error,
  actions,
  filters,
  emptyText,
  page,
  select,
}: {
  title: string;
  items: QuarantineItem[];
  total: number;
  /** Server-side pages: the page shown (0-based) and how to move (absent: no such page). */
  page?: { index: number; next?: () => void; prev?: () => void };
  loading: boolean;
  error: { message: string } | null;
  actions: QuarantineActions | null;
  filters: React.ReactNode;
  emptyText: string;
  select?: QuarantineSelect;
}) {
  const [confirmDelete, setConfirmDelete] = useState<QuarantineItem | null>(null);
  const [header, setHeader] = useState<{ item: QuarantineItem; result: HeaderResult | null } | null>(null);
  const openHeader = async (item: QuarantineItem) => {
    if (!actions?.header) return;
    setHeader({ item, result: null });
    try {
      const result = await actions.header(item.id);
      setHeader({ item, result });
    } catch (e) {
      setHeader({ item, result: { error: (e as Error).message } });
    }
  };
  return (
    <Card withBorder radius="md" padding="lg">
      <Group justify="space-between" mb="sm">
        <Title order={5}>{title}</Title>
        <Group gap="xs">
          <Text size="sm" c="dimmed" data-testid="quarantine-count">
            {items.length < total ? `${((page?.index ?? 0) * 100 + 1).toLocaleString("en")}–${((page?.index ?? 0) * 100 + items.length).toLocaleString("en")} of ${total.toLocaleString("en")} instances` : `${total.toLocaleString("en")} instance${total === 1 ? "" : "s"}`}
          </Text>
          {page && (page.prev || page.next) && (
            <>
              <Button size="xs" variant="default" disabled={!page.prev} onClick={page.prev}>Previous</Button>
              <Button size="xs" variant="default" disabled={!page.next} onClick={page.next}>Next</Button>
            </>
          )}
        </Group>
      </Group>
      <Stack gap="md">
        {filters}
        <ErrorAlert error={error} title="Could not load the quarantine" />
        {select?.bar}
        <Table verticalSpacing="xs" highlightOnHover data-testid="quarantine-table">
          <Table.Thead>
            <Table.Tr>
              {select && (
                <Table.Th w={36}>
                  <Checkbox
                    aria-label="Select every row of this page"
                    checked={select.pageState === "all"}
                    indeterminate={select.pageState === "some"}
                    disabled={items.length === 0}
                    onChange={(e) => select.togglePage(e.currentTarget.checked)}
                    data-testid="select-page"
                  />
                </Table.Th>
              )}
              <Table.Th w={170}>Received</Table.Th>
              <Table.Th w={200}>What</Table.Th>
              <Table.Th w={110}>Way in</Table.Th>
              <Table.Th>Reason</Table.Th>
              {actions && <Table.Th w={150} />}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {!loading && items.length === 0 && (
              <Table.Tr>
                <Table.Td colSpan={6}><Text size="sm" c="dimmed">{emptyText}</Text></Table.Td>
              </Table.Tr>
            )}
            {items.map((q) => (
              <QuarantineRow
                key={q.id}
                item={q}
                selected={select ? select.isSelected(q.id) : null}
                onToggle={select?.toggle}
                actions={actions}
                onHeader={openHeader}
                onDelete={setConfirmDelete}
              />
            ))}
          </Table.Tbody>
        </Table>
      </Stack>

      <Modal opened={Boolean(confirmDelete)} onClose={() => setConfirmDelete(null)} title={<Text fw={600}>Delete this instance?</Text>}>
        <Text size="sm">The received file is deleted for good and cannot be retried or routed afterwards. The audit log keeps that you deleted it.</Text>
        <Group justify="flex-end" mt="lg">
          <Button variant="default" onClick={() => setConfirmDelete(null)}>Cancel</Button>
          <Button color="red" onClick={() => { actions?.remove?.(confirmDelete!.id); setConfirmDelete(null); }}>Delete</Button>
        </Group>
      </Modal>

      <Drawer opened={Boolean(header)} onClose={() => setHeader(null)} position="right" size="xl" title={<Text fw={600}>Original header</Text>}>
        <Text size="sm" c="dimmed" mb="sm">These values identify the patient. Your view is recorded in the project&apos;s audit log and in the site audit log that site administrators review.</Text>
        {header && !header.result && <Text size="sm">Loading…</Text>}
        {header?.result && "error" in header.result && <ErrorAlert error={{ message: header.result.error }} title="Cannot show the header" />}
        {header?.result && "rows" in header.result && (
          <Table fz="xs" striped data-testid="original-header">
            <Table.Thead>
              <Table.Tr><Table.Th>Tag</Table.Th><Table.Th>Keyword</Table.Th><Table.Th>VR</Table.Th><Table.Th>Value</Table.Th></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {header.result.rows.map((r, i) => (
                <Table.Tr key={`${r.tag}-${i}`}>
                  <Table.Td ff="monospace">{r.tag}</Table.Td>
                  <Table.Td>{r.keyword}</Table.Td>
                  <Table.Td ff="monospace">{r.vr}</Table.Td>
                  <Table.Td style={{ wordBreak: "break-all" }}>{r.value}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Drawer>
    </Card>
  );
}
