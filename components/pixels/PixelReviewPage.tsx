"use client";
// The pixel review of one held instance (owners): the image at full size; drag on it to draw
// blanking rectangles, or pick the regions of an existing pixel rule; save them as a pixel rule for
// this scanner model (signature: the checked header values); then release (the blanked file is what
// is stored and archived) or delete. Every decision is audited on the server.
import { useCallback, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  ActionIcon, Alert, Anchor, Badge, Box, Breadcrumbs, Button, Card, Checkbox, Code, Group, Modal, NumberInput, ScrollArea, Skeleton, Stack, Switch, Table, Text, TextInput, Title, Tooltip,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconCheck, IconTrash, IconX } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { HOLD_LABEL } from "./PixelReviewQueue";

type Region = { x: number; y: number; w: number; h: number };
type Keyword = "Manufacturer" | "ManufacturerModelName" | "Modality" | "Rows" | "Columns";

/** A region with a negative x or y counts from the right or bottom edge (CTP): where it lands on this image. */
function place(r: Region, cols: number, rows: number) {
  const x = r.x < 0 ? cols + r.x : r.x;
  const y = r.y < 0 ? rows + r.y : r.y;
  return { x: Math.max(0, x), y: Math.max(0, y), w: Math.max(0, Math.min(cols, x + r.w) - Math.max(0, x)), h: Math.max(0, Math.min(rows, y + r.h) - Math.max(0, y)) };
}

export function PixelReviewPage({ projectId, instanceId }: { projectId: string; instanceId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const done = async () => {
    await Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.pixels.pathKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.intake.summary.queryKey({ projectId }) }),
    ]);
    router.push(back);
  };
  const item = useQuery(trpc.pixels.get.queryOptions({ projectId, instanceId }, { retry: false }));
  const rules = useQuery(trpc.pixels.rules.queryOptions({ projectId }));
  const [frame, setFrame] = useState(1);
  const [regions, setRegions] = useState<Region[]>([]);
  const [draft, setDraft] = useState<Region | null>(null);
  const [preview, setPreview] = useState(false);
  const [imageError, setImageError] = useState<string | null>(null);
  const [saveRule, setSaveRule] = useState(true);
  const [checked, setChecked] = useState<Keyword[]>(["Manufacturer", "ManufacturerModelName", "Rows", "Columns"]);
  const [note, setNote] = useState("");
  const [confirmDelete, setConfirmDelete] = useState(false);
  const start = useRef<{ x: number; y: number } | null>(null);
  const svg = useRef<SVGSVGElement | null>(null);
  const back = `/projects/${projectId}?tab=intake`;

  const release = useMutation(
    trpc.pixels.release.mutationOptions({
      onSuccess: (r) => {
        notifications.show({
          color: "teal",
          title: "Released",
          message: `${regions.length ? `${regions.length} region${regions.length === 1 ? "" : "s"} blanked; ` : ""}the image joins its study and is archived with it.${r.ruleId ? " The pixel rule blanks this scanner model from now on." : ""}`,
        });
        void done();
      },
    }),
  );
  const remove = useMutation(
    trpc.pixels.delete.mutationOptions({
      onSuccess: () => {
        notifications.show({ color: "teal", title: "Deleted", message: "The held image and its files were deleted." });
        void done();
      },
    }),
  );

  const toImage = useCallback((e: ReactPointerEvent<SVGSVGElement>, cols: number, rows: number) => {
    const b = svg.current!.getBoundingClientRect();
    const x = Math.round(((e.clientX - b.left) / b.width) * cols);
    const y = Math.round(((e.clientY - b.top) / b.height) * rows);
    return { x: Math.min(cols, Math.max(0, x)), y: Math.min(rows, Math.max(0, y)) };
  }, []);

  if (item.isPending) return <Stack><Skeleton h={36} w={300} /><Skeleton h={480} /></Stack>;
  const crumbs = (
    <Breadcrumbs>
      <Anchor component={Link} href="/projects">Projects</Anchor>
      <Anchor component={Link} href={back} ff="monospace">{projectId}</Anchor>
      <Text>Pixel review</Text>
    </Breadcrumbs>
  );
  if (item.error) {
    return (
      <Stack>
        {crumbs}
        <ErrorAlert error={item.error} title="Cannot open this pixel review" />
        <Group><Button component={Link} href={back} variant="default">Back to Intake</Button></Group>
      </Stack>
    );
  }
  const it = item.data;
  const cols = it.columns;
  const rows = it.rows;
  const values: Record<Keyword, string> = { Manufacturer: it.manufacturer, ManufacturerModelName: it.modelName, Modality: it.modality, Rows: String(rows), Columns: String(cols) };
  const conditions = checked.filter((k) => values[k] !== "").map((k) => ({ keyword: k, value: values[k] }));
  const imageUrl = `/api/projects/${encodeURIComponent(projectId)}/pixel-review/${encodeURIComponent(instanceId)}/image?frame=${frame}`;
  const shown = draft ? [...regions, draft] : regions;

  const onDown = (e: ReactPointerEvent<SVGSVGElement>) => {
    if (!it.blankable) return;
    svg.current!.setPointerCapture(e.pointerId);
    start.current = toImage(e, cols, rows);
    setDraft({ ...start.current, w: 0, h: 0 });
  };
  const onMove = (e: ReactPointerEvent<SVGSVGElement>) => {
    if (!start.current) return;
    const p = toImage(e, cols, rows);
    const s = start.current;
    setDraft({ x: Math.min(s.x, p.x), y: Math.min(s.y, p.y), w: Math.abs(p.x - s.x), h: Math.abs(p.y - s.y) });
  };
  const onUp = () => {
    if (draft && draft.w >= 2 && draft.h >= 2) setRegions((r) => [...r, draft]);
    start.current = null;
    setDraft(null);
  };
  const onImageError = async () => {
    try {
      const r = await fetch(imageUrl);
      const body = (await r.json().catch(() => null)) as { error?: string } | null;
      setImageError(body?.error ?? `The image could not be loaded (HTTP ${r.status}). Reload the page.`);
    } catch {
      setImageError("The image could not be loaded: the server did not answer. Check your connection and reload.");
    }
  };
  const pickable = (rules.data?.items ?? []).filter((r) => r.enabled && r.regions.length);

  return (
    <Stack gap="md" data-testid="pixel-review-page">
      {crumbs}
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>Pixel review</Title>
          <Group gap="xs" mt={6}>
            <Text ff="monospace" size="sm">{it.subjectLabel}</Text>
            <Badge color={it.reasonCode === "pixel_blanking_unsupported" ? "red" : "orange"} variant="light">{HOLD_LABEL[it.reasonCode] ?? it.reasonCode}</Badge>
          </Group>
        </div>
        <Group>
          <Button color="red" variant="light" leftSection={<IconTrash size={16} />} onClick={() => setConfirmDelete(true)}>Delete</Button>
          <Button
            leftSection={<IconCheck size={16} />}
            disabled={Boolean(regions.length && !it.blankable)}
            loading={release.isPending}
            onClick={() => release.mutate({ projectId, instanceId, regions, ...(saveRule && regions.length ? { saveRule: { conditions, description: note || undefined } } : {}) })}
            data-testid="release"
          >
            {regions.length ? `Blank ${regions.length} region${regions.length === 1 ? "" : "s"} and release` : "Release: no identifying text"}
          </Button>
        </Group>
      </Group>
      <Text size="sm" c="dimmed">{it.reason}</Text>
      {!it.blankable && (
        <Alert color="red" title="Atrium cannot blank this image">
          Its pixel data is compressed (transfer syntax <Code>{it.transferSyntaxUid}</Code>). Delete it, or have it sent uncompressed (or RLE Lossless) and review that copy. Release it only if it shows no identifying text.
        </Alert>
      )}
      <ErrorAlert error={release.error ?? remove.error} title={release.error ? "Not released" : "Not deleted"} />
      <Group align="flex-start" wrap="nowrap" gap="lg">
        <Card withBorder padding="xs" radius="md" style={{ flex: "1 1 auto", minWidth: 0 }}>
          <Group justify="space-between" mb="xs">
            <Text size="sm" c="dimmed">{cols}×{rows} pixels, full size. {it.blankable ? "Drag on the image to draw a region to blank." : ""}</Text>
            <Group gap="md">
              {it.frames > 1 && <NumberInput size="xs" w={120} label="Frame" min={1} max={it.frames} value={frame} onChange={(v) => setFrame(Number(v) || 1)} />}
              <Switch size="sm" label="Preview blanked" checked={preview} onChange={(e) => setPreview(e.currentTarget.checked)} />
            </Group>
          </Group>
          {imageError ? (
            <Alert color="yellow" title="The image cannot be shown here">{imageError}</Alert>
          ) : (
            <ScrollArea type="auto" offsetScrollbars>
              <Box pos="relative" w={cols} h={rows} data-testid="review-canvas">
                <img src={imageUrl} alt="The held image" width={cols} height={rows} style={{ display: "block", imageRendering: "pixelated" }} onError={() => void onImageError()} draggable={false} />
                <svg
                  ref={svg}
                  viewBox={`0 0 ${cols} ${rows}`}
                  width={cols}
                  height={rows}
                  style={{ position: "absolute", inset: 0, cursor: it.blankable ? "crosshair" : "default", touchAction: "none" }}
                  onPointerDown={onDown}
                  onPointerMove={onMove}
                  onPointerUp={onUp}
                  data-testid="review-overlay"
                >
                  {shown.map((r0, i) => {
                    const r = place(r0, cols, rows);
                    return (
                      <rect key={i} x={r.x} y={r.y} width={r.w} height={r.h} fill={preview ? "black" : "rgba(0,0,0,0.45)"} stroke={preview ? "none" : "#fa5252"} strokeWidth={Math.max(1, cols / 400)} strokeDasharray={i === regions.length ? "4 3" : undefined} />
                    );
                  })}
                </svg>
              </Box>
            </ScrollArea>
          )}
        </Card>
        <Stack w={380} style={{ flex: "0 0 380px" }} gap="md">
          <Card withBorder radius="md" padding="md">
            <Title order={6} mb="xs">Image</Title>
            <Table fz="sm" verticalSpacing={2}>
              <Table.Tbody>
                <Table.Tr><Table.Td c="dimmed">Modality</Table.Td><Table.Td>{it.modality || "—"}</Table.Td></Table.Tr>
                <Table.Tr><Table.Td c="dimmed">Manufacturer</Table.Td><Table.Td>{it.manufacturer || "—"}</Table.Td></Table.Tr>
                <Table.Tr><Table.Td c="dimmed">Model</Table.Td><Table.Td>{it.modelName || "—"}</Table.Td></Table.Tr>
                <Table.Tr><Table.Td c="dimmed">Size</Table.Td><Table.Td>{cols}×{rows}{it.frames > 1 ? `, ${it.frames} frames` : ""}</Table.Td></Table.Tr>
                <Table.Tr><Table.Td c="dimmed">Transfer syntax</Table.Td><Table.Td><Code fz="xs">{it.transferSyntaxUid}</Code></Table.Td></Table.Tr>
              </Table.Tbody>
            </Table>
          </Card>
          <Card withBorder radius="md" padding="md" data-testid="regions">
            <Group justify="space-between" mb="xs">
              <Title order={6}>Regions to blank ({regions.length})</Title>
              {regions.length > 0 && <Button size="compact-xs" variant="subtle" onClick={() => setRegions([])}>Clear</Button>}
            </Group>
            {regions.length === 0 && <Text size="sm" c="dimmed">None yet: drag on the image, or pick a rule&apos;s regions below.</Text>}
            {regions.map((r, i) => (
              <Group key={i} justify="space-between" gap="xs">
                <Code>({r.x},{r.y},{r.w},{r.h})</Code>
                <ActionIcon size="sm" variant="subtle" color="red" aria-label={`Remove region ${i + 1}`} onClick={() => setRegions((all) => all.filter((_, j) => j !== i))}><IconX size={14} /></ActionIcon>
              </Group>
            ))}
            {it.blankable && (
              <Stack gap={4} mt="sm">
                <Text size="xs" c="dimmed">Pick regions:</Text>
                <Group gap={6}>
                  <Button size="compact-xs" variant="default" onClick={() => setRegions((r) => [...r, { x: 0, y: 0, w: cols, h: Math.max(1, Math.round(rows * 0.08)) }])}>Top band (8%)</Button>
                  <Button size="compact-xs" variant="default" onClick={() => setRegions((r) => [...r, { x: 0, y: 0, w: cols, h: rows }])}>Whole image</Button>
                  {pickable.map((rule) => (
                    <Tooltip key={rule.id} label={rule.signature} multiline w={300}>
                      <Button size="compact-xs" variant="default" onClick={() => setRegions((r) => [...r, ...rule.regions])}>Rule: {rule.description || rule.regions.length + " regions"}</Button>
                    </Tooltip>
                  ))}
                </Group>
              </Stack>
            )}
          </Card>
          {it.blankable && (
            <Card withBorder radius="md" padding="md" data-testid="rule-form">
              <Checkbox label="Save these regions as a pixel rule, so that this scanner model is blanked automatically" checked={saveRule} onChange={(e) => setSaveRule(e.currentTarget.checked)} mb="xs" />
              {saveRule && (
                <Stack gap={6}>
                  <Text size="xs" c="dimmed">The rule applies to images whose header has all the checked values:</Text>
                  <Checkbox.Group value={checked} onChange={(v) => setChecked(v as Keyword[])}>
                    <Stack gap={4}>
                      {(Object.keys(values) as Keyword[]).map((k) => (
                        <Checkbox key={k} value={k} disabled={values[k] === ""} label={<Text size="sm"><Code>{k}</Code> = {values[k] ? `"${values[k]}"` : <Text span c="dimmed">(empty)</Text>}</Text>} />
                      ))}
                    </Stack>
                  </Checkbox.Group>
                  {conditions.length === 0 && <Alert color="yellow" p="xs">With no value checked, the rule blanks these regions on every image of the project.</Alert>}
                  <TextInput size="xs" label="Note" placeholder="e.g. header band with the institution name" value={note} onChange={(e) => setNote(e.currentTarget.value)} />
                </Stack>
              )}
            </Card>
          )}
        </Stack>
      </Group>
      <Modal opened={confirmDelete} onClose={() => setConfirmDelete(false)} title="Delete this image?">
        <Stack>
          <Text size="sm">The held image and its staged original are deleted for good; the audit log keeps that you did it. A corrected copy sent later is accepted.</Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setConfirmDelete(false)}>Cancel</Button>
            <Button color="red" loading={remove.isPending} onClick={() => remove.mutate({ projectId, instanceId })} data-testid="confirm-delete">Delete</Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}
