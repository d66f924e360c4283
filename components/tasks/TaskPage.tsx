"use client";
// The task page (/tasks/{id}): the viewer laid out as the template's current step says, showing the
// scans matched for this task, with the step's form beside it. The draft (answers and the viewer's
// annotations) is saved on demand, every 15 s while changed and when the page is hidden; submit
// checks the form with the server's own validation, then opens the next task of the same group.
// Keyboard: Ctrl+S saves, Ctrl+Enter submits, plus the template's command keys.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Anchor, Badge, Box, Breadcrumbs, Button, Group, Kbd, Modal, Paper, ScrollArea, SegmentedControl, Skeleton, Stack, Text, Textarea, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import type { RouterOutputs } from "@/components/types";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { preloadViewer, ViewerLazy, type SeriesRef, type ViewerApi } from "@/components/viewer";
import { TaskTemplate } from "@/lib/tasks/template";
import { defaultAnswers, validateSubmission, visibleQuestions, type Annotation, type AnswerValue } from "@/lib/tasks/answers";
import { taskSeries, toTaskAnnotations, toViewerAnnotations, viewerSetup } from "@/lib/tasks/viewer-map";
import type { LabelOverlay, ViewerAnnotations } from "@/lib/viewer/viewer";
import { TaskForm } from "./TaskForm";
import { TaskHistory } from "./TaskHistory";
import { ReviewActions } from "./ReviewActions";

const AUTOSAVE_MS = 15_000;
/** Each read of an adjudication in a colour of its own (the viewer's own annotations stay in its default colours). */
/** An answer as a reader wrote it: the options' labels, lists joined. */
function answerText(q: TaskTemplate["contexts"][number]["form"][number], v: unknown): string {
  const label = (x: unknown) => ("options" in q ? q.options.find((o) => o.value === x)?.label : undefined) ?? String(x);
  return Array.isArray(v) ? v.map(label).join(", ") : label(v);
}
const READ_COLORS = ["rgb(230, 73, 128)", "rgb(34, 139, 230)", "rgb(250, 176, 5)", "rgb(64, 192, 87)", "rgb(190, 75, 219)", "rgb(253, 126, 20)"];
const annotationKey = (v: ViewerAnnotations) => JSON.stringify([v.measurements.map((m) => [m.uid, m.points, m.label ?? null]), v.labelmaps]);

export function TaskPage({ projectId, taskId, initialTask }: { projectId: string; taskId: string; initialTask?: RouterOutputs["tasks"]["view"] | null }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  // The task as the server read it for the page's HTML (not asked again while the page loads).
  const q = useQuery({
    ...trpc.tasks.view.queryOptions({ projectId, taskId }, { retry: false, refetchOnWindowFocus: false }),
    ...(initialTask && initialTask.id === taskId ? { initialData: initialTask, staleTime: 5_000 } : {}),
  });
  const task = q.data;
  const template = useMemo(() => (task && task.template.format === "atrium" ? TaskTemplate.safeParse(task.template.definition) : null), [task]);
  const tpl = template?.success ? template.data : null;
  // The template's overlays (pipeline results) are asked for only when it has some.
  const overlays = useQuery(trpc.tasks.overlays.queryOptions({ projectId, taskId }, { retry: false, refetchOnWindowFocus: false, enabled: Object.keys(tpl?.overlays ?? {}).length > 0 }));

  const [step, setStep] = useState(0);
  const [answers, setAnswers] = useState<Record<string, AnswerValue>>({});
  const annotations = useRef<Record<string, ViewerAnnotations>>({});
  const [annotationCount, setAnnotationCount] = useState(0);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [savedAt, setSavedAt] = useState<Date | null>(null);
  const [lockUntil, setLockUntil] = useState<Date | null>(null);
  const [skipOpen, setSkipOpen] = useState(false);
  const [skipReason, setSkipReason] = useState("");
  const [loadedFor, setLoadedFor] = useState<string | null>(null);
  const apiRef = useRef<ViewerApi | null>(null);
  const workedSince = useRef(Date.now());
  /** The annotations as restored, per context: the viewer reports them back once drawn, which is no change. */
  const restored = useRef<Record<string, string>>({});

  // Restore the draft (or the submitted result, or the template's defaults) once per task.
  useEffect(() => {
    if (!task || !tpl || loadedFor === task.id) return;
    const source = task.draft ?? task.result;
    setAnswers({ ...defaultAnswers(tpl), ...((source?.answers ?? {}) as Record<string, AnswerValue>) });
    const anns = (source?.annotations ?? []) as Annotation[];
    annotations.current = Object.fromEntries(tpl.contexts.map((c) => [c.id, toViewerAnnotations(c.id, anns)]));
    restored.current = Object.fromEntries(Object.entries(annotations.current).map(([k, v]) => [k, annotationKey(v)]));
    setAnnotationCount(anns.length);
    setLockUntil(task.lockExpiresAt ? new Date(task.lockExpiresAt) : null);
    setSavedAt(task.draft ? new Date(task.draft.updatedAt) : null);
    setStep(0);
    setDirty(false);
    setErrors({});
    setFormError(null);
    workedSince.current = Date.now();
    setLoadedFor(task.id);
  }, [task, tpl, loadedFor]);

  const editable = Boolean(task && (task.state === "queued" || (task.state === "locked" && task.mine)) && !task.resolution?.cannotBeDone);
  const context = tpl?.contexts[step];
  const setup = useMemo(() => (context ? viewerSetup(context) : null), [context]);

  const collect = useCallback(() => {
    if (!tpl) return { answers, annotations: [] as Annotation[] };
    if (context && apiRef.current) annotations.current[context.id] = apiRef.current.getAnnotations();
    const anns = tpl.contexts.flatMap((c) => toTaskAnnotations(c, annotations.current[c.id] ?? { version: 1, measurements: [], labelmaps: [] }));
    return { answers, annotations: anns };
  }, [tpl, context, answers]);

  const elapsed = () => {
    const now = Date.now();
    const ms = Math.min(now - workedSince.current, 3600_000);
    workedSince.current = now;
    return ms;
  };

  const save = useMutation(
    trpc.tasks.saveDraft.mutationOptions({
      onSuccess: (r) => {
        setDirty(false);
        setSavedAt(new Date());
        setLockUntil(new Date(r.lockExpiresAt));
      },
      onError: (e) => setFormError(e.message),
    }),
  );
  const startNext = useMutation(trpc.tasks.startNext.mutationOptions());
  const openNext = useCallback(async () => {
    if (!task?.groupId) return router.push("/tasks");
    const next = await startNext.mutateAsync({ projectId, groupId: task.groupId }).catch(() => null);
    if (next) router.push(`/tasks/${next.id}`);
    else {
      notifications.show({ color: "teal", title: "Queue done", message: "No more tasks in this group for you." });
      router.push("/tasks");
    }
  }, [task, projectId, router, startNext]);
  const submit = useMutation(
    trpc.tasks.submit.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: `Task #${task?.number} submitted`, message: r.adjudicationId ? "The reads disagree: an adjudication task was made." : `Saved as version ${r.version}.` });
        await queryClient.invalidateQueries({ queryKey: trpc.tasks.queues.queryKey() });
        await openNext();
      },
      onError: (e) => setFormError(e.message),
    }),
  );
  const skip = useMutation(
    trpc.tasks.skip.mutationOptions({
      onSuccess: async () => {
        setSkipOpen(false);
        await openNext();
      },
      onError: (e) => setFormError(e.message),
    }),
  );
  const release = useMutation(trpc.tasks.release.mutationOptions({ onSuccess: () => router.push("/tasks"), onError: (e) => setFormError(e.message) }));

  const doSave = useCallback(() => {
    if (!editable || save.isPending) return;
    save.mutate({ projectId, taskId, ...collect(), elapsedMs: elapsed() });
  }, [editable, save, projectId, taskId, collect]);

  const doSubmit = useCallback(() => {
    if (!editable || !tpl || submit.isPending) return;
    const s = collect();
    const v = validateSubmission(tpl, { ...s, annotations: s.annotations }, "submit");
    if (v.errors.length) {
      setErrors(Object.fromEntries(v.errors.map((e) => [e.field, e.message])));
      setFormError(`Not yet: ${v.errors.map((e) => e.message).join("; ")}`);
      // Go to the first step with a problem.
      const bad = tpl.contexts.findIndex((c) => c.form.some((q) => v.errors.some((e) => e.field === q.id)) || v.errors.some((e) => e.field.startsWith(`annotations.${c.id}.`)));
      if (bad >= 0 && bad !== step) setStep(bad);
      return;
    }
    setFormError(null);
    submit.mutate({ projectId, taskId, ...s, elapsedMs: elapsed() });
  }, [editable, tpl, submit, collect, projectId, taskId, step]);

  // Autosave while changed, and when the page is hidden (tab closed or switched).
  useEffect(() => {
    if (!dirty || !editable) return;
    const t = setTimeout(doSave, AUTOSAVE_MS);
    return () => clearTimeout(t);
  }, [dirty, editable, doSave]);
  useEffect(() => {
    const onHide = () => {
      if (document.visibilityState === "hidden" && dirty && editable) doSave();
    };
    document.addEventListener("visibilitychange", onHide);
    return () => document.removeEventListener("visibilitychange", onHide);
  }, [dirty, editable, doSave]);

  // Keyboard: Ctrl+S, Ctrl+Enter, and the step's command keys (outside text fields).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
        e.preventDefault();
        doSave();
        return;
      }
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
        e.preventDefault();
        doSubmit();
        return;
      }
      const t = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName)))) return;
      const cmd = setup?.commands[e.key] ?? setup?.commands[e.key.toLowerCase()];
      if (!cmd || !tpl) return;
      e.preventDefault();
      if (cmd === "save") doSave();
      else if (cmd === "submit") doSubmit();
      else if (cmd === "nextContext") setStep((s) => Math.min(s + 1, tpl.contexts.length - 1));
      else if (cmd === "previousContext") setStep((s) => Math.max(s - 1, 0));
      else if (cmd === "resetView") apiRef.current?.reset();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [doSave, doSubmit, setup, tpl]);

  const visible = useMemo(() => (tpl ? visibleQuestions(tpl, answers) : new Set<string>()), [tpl, answers]);
  // Errors as the reader types: types and ranges only (required fields are checked on submit).
  const liveErrors = useMemo(() => {
    if (!tpl) return {};
    const v = validateSubmission(tpl, { answers, annotations: [] }, "draft");
    return Object.fromEntries(v.errors.map((e) => [e.field, e.message]));
  }, [tpl, answers]);

  const scans = useMemo((): Record<string, SeriesRef | null> => (task && tpl ? taskSeries(projectId, Object.keys(tpl.scans), task) : {}), [task, tpl, projectId]);
  // The viewer's code from the first render (scans is empty then), the task's series' metadata (and
  // the frames of the current context's stacks) as soon as they are known.
  const layout = context?.layout;
  useEffect(() => preloadViewer(Object.values(scans).filter((s): s is SeriesRef => s !== null), layout ? { layout, scans } : undefined), [scans, layout]);

  const crumbs = (
    <Breadcrumbs>
      <Anchor component={Link} href="/tasks">My tasks</Anchor>
      <Anchor component={Link} href={`/projects/${encodeURIComponent(projectId)}?tab=tasks`} ff="monospace">{projectId}</Anchor>
      {task?.group && <Text>{task.group.label}</Text>}
      <Text>Task #{task?.number ?? "…"}</Text>
    </Breadcrumbs>
  );
  if (q.isPending) return <Stack>{crumbs}<Skeleton h={600} /></Stack>;
  if (q.error) return <Stack>{crumbs}<ErrorAlert error={q.error} title="Cannot open this task" /></Stack>;
  if (!task) return null;
  if (!tpl || !context || !setup) {
    return (
      <Stack>
        {crumbs}
        <Alert color="yellow" title="Not an Atrium template">This task uses a ViewR template ({task.template.name}); open it in the ViewR desktop client through the TaskManager API.</Alert>
      </Stack>
    );
  }

  const cannot = task.resolution?.cannotBeDone ?? null;
  const questions = context.form;
  const shownErrors = { ...liveErrors, ...errors };
  const stateColor: Record<string, string> = { queued: "gray", locked: "blue", submitted: "yellow", done: "teal", skipped: "orange", aborted: "red", cannot_be_done: "red" };

  return (
    <Stack gap="sm" data-testid="task-page" data-task-state={task.state}>
      <Group justify="space-between" wrap="nowrap">
        {crumbs}
        <Group gap="xs">
          <Badge color={stateColor[task.state] ?? "gray"} data-testid="task-state">{task.state.replace(/_/g, " ")}</Badge>
          {task.kind === "adjudication" && <Badge color="grape">adjudication</Badge>}
          {editable && lockUntil && <Text size="xs" c="dimmed">locked to you until {lockUntil.toLocaleTimeString()}</Text>}
          {savedAt && <Text size="xs" c="dimmed" data-testid="saved-at">draft saved {savedAt.toLocaleTimeString()}</Text>}
          {dirty && <Badge size="xs" variant="light" color="orange">unsaved</Badge>}
        </Group>
      </Group>
      <Group justify="space-between">
        <Title order={3}>{tpl.title}{task.experiment ? <Text span c="dimmed" ff="monospace" size="md"> · {task.experiment.subject} / {task.experiment.label}</Text> : null}</Title>
        {tpl.contexts.length > 1 && (
          <SegmentedControl size="xs" value={String(step)} onChange={(v) => {
            if (context && apiRef.current) annotations.current[context.id] = apiRef.current.getAnnotations();
            setStep(Number(v));
          }} data={tpl.contexts.map((c, i) => ({ value: String(i), label: `${i + 1}. ${c.title}` }))} aria-label="Steps" />
        )}
      </Group>
      {task.review === "returned" && task.state !== "done" && task.reviewComment && (
        <Alert color="orange" icon={<IconAlertTriangle size={18} />} title="Returned by the reviewer" data-testid="review-returned">
          {task.reviewComment} Your answers are restored below: change what is asked and submit again.
        </Alert>
      )}
      {cannot && (
        <Alert color="red" icon={<IconAlertTriangle size={18} />} title="This task cannot be done" data-testid="cannot-be-done">
          {cannot.charAt(0).toUpperCase() + cannot.slice(1)} in this experiment. Nothing to read; go on with the next task.
          <Group mt="sm"><Button size="xs" variant="white" color="red" onClick={() => void openNext()}>Next task</Button></Group>
        </Alert>
      )}
      <Group align="stretch" gap="md" wrap="nowrap" style={{ minHeight: 520 }}>
        <Box style={{ flex: 1, minWidth: 0 }} h="calc(100vh - 230px)" mih={480}>
          {!cannot && (
            <ViewerLazy
              key={`${task.id}:${context.id}`}
              layout={context.layout}
              scans={scans}
              tools={setup.tools}
              labels={setup.labels}
              hotkeys={setup.viewerHotkeys}
              readOnly={!editable}
              initialAnnotations={annotations.current[context.id]}
              overlays={overlays.data ?? (overlays.error ? overlayError(overlays.error.message, tpl) : undefined)}
              referenceAnnotations={task.reads.map((r, i) => ({ key: `read${i + 1}`, name: `Read ${i + 1}`, color: READ_COLORS[i % READ_COLORS.length]!, measurements: toViewerAnnotations(context.id, r.annotations).measurements }))}
              onAnnotationsChange={(a) => {
                annotations.current[context.id] = a;
                setAnnotationCount(Object.values(annotations.current).reduce((n, x) => n + x.measurements.length + x.labelmaps.length, 0));
                if (editable && annotationKey(a) !== restored.current[context.id]) {
                  restored.current[context.id] = "";
                  setDirty(true);
                }
              }}
              apiRef={apiRef}
            />
          )}
        </Box>
        <Paper withBorder p="md" w={380} style={{ flexShrink: 0, display: "flex", flexDirection: "column" }}>
          <ScrollArea style={{ flex: 1 }} offsetScrollbars>
            <Stack gap="md">
              {(context.instructions || (step === 0 && tpl.instructions)) && (
                <Box>
                  <Text size="xs" tt="uppercase" c="dimmed" fw={700}>Instructions{tpl.estimatedMinutes ? ` · about ${tpl.estimatedMinutes} min` : ""}</Text>
                  <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>{context.instructions ?? (tpl.instructions && "markdown" in tpl.instructions ? tpl.instructions.markdown.replace(/\*\*/g, "") : "")}</Text>
                  {tpl.instructions && "url" in tpl.instructions && <Anchor href={tpl.instructions.url} target="_blank" size="sm">Standard operating procedure</Anchor>}
                </Box>
              )}
              <TaskForm
                questions={questions}
                answers={answers}
                visible={visible}
                errors={shownErrors}
                readOnly={!editable}
                onChange={(id, v) => {
                  setAnswers((a) => ({ ...a, [id]: v }));
                  setErrors((e) => {
                    const { [id]: _, ...rest } = e;
                    return rest;
                  });
                  setDirty(true);
                }}
              />
              {context.annotationRules.length > 0 && (
                <Text size="xs" c={Object.keys(errors).some((f) => f.startsWith(`annotations.${context.id}.`)) ? "red" : "dimmed"} data-testid="annotation-rules">
                  {context.annotationRules.map((r) => `${r.label ?? r.tool}: at least ${r.min}${r.max !== undefined ? `, at most ${r.max}` : ""}`).join(" · ")} ({annotationCount} annotation{annotationCount === 1 ? "" : "s"} made)
                </Text>
              )}
              {task.reads.length > 0 && (
                <Box data-testid="adjudication-reads">
                  <Text size="xs" tt="uppercase" c="dimmed" fw={700}>The reads</Text>
                  {task.reads.map((r, i) => (
                    <Group key={r.taskId} gap={6} wrap="nowrap" align="flex-start" data-testid={`read-${i + 1}`}>
                      <Box mt={4} w={12} h={12} style={{ flexShrink: 0, borderRadius: 3, background: READ_COLORS[i % READ_COLORS.length] }} aria-label={`colour of read ${i + 1}`} />
                      <Text size="sm">Read {i + 1} ({r.reader ?? "?"}): {questions.filter((qq) => r.answers[qq.id] != null).map((qq) => `${qq.label} ${answerText(qq, r.answers[qq.id])}`).join(" · ") || "no answers"}{r.annotations.length ? ` · ${r.annotations.length} annotation${r.annotations.length === 1 ? "" : "s"} in this colour` : ""}</Text>
                    </Group>
                  ))}
                </Box>
              )}
            </Stack>
          </ScrollArea>
          {formError && <Alert color="red" mt="sm" p="xs" data-testid="form-error"><Text size="sm">{formError}</Text></Alert>}
          {editable ? (
            <Stack gap={6} mt="sm">
              <Group grow>
                <Button variant="default" onClick={doSave} loading={save.isPending}>Save draft</Button>
                <Button onClick={doSubmit} loading={submit.isPending || startNext.isPending}>Submit</Button>
              </Group>
              <Group justify="space-between">
                <Group gap={4}><Kbd size="xs">Ctrl</Kbd>+<Kbd size="xs">S</Kbd><Text size="xs" c="dimmed">save</Text><Kbd size="xs">Ctrl</Kbd>+<Kbd size="xs">Enter</Kbd><Text size="xs" c="dimmed">submit, next</Text></Group>
                <Group gap={4}>
                  <Button size="compact-xs" variant="subtle" color="gray" onClick={() => setSkipOpen(true)}>Skip…</Button>
                  {task.state === "locked" && <Button size="compact-xs" variant="subtle" color="gray" onClick={() => release.mutate({ projectId, taskId })}>Release</Button>}
                </Group>
              </Group>
            </Stack>
          ) : (
            <Stack gap={6} mt="sm">
              <Text size="sm" c="dimmed">{task.state === "locked" ? "Another reader is working on this task." : `This task is ${task.state.replace(/_/g, " ")}; shown read-only${task.result && !task.mine ? " with the reader's answers and annotations" : ""}.`}</Text>
              {task.reviewer && task.state === "submitted" && (
                <Group justify="space-between" data-testid="task-review">
                  <Text size="sm">Review this read:</Text>
                  <ReviewActions projectId={projectId} taskId={taskId} />
                </Group>
              )}
            </Stack>
          )}
        </Paper>
      </Group>
      {task.state !== "queued" && <TaskHistory projectId={projectId} taskId={taskId} />}
      <Modal opened={skipOpen} onClose={() => setSkipOpen(false)} title={`Skip task #${task.number}`}>
        <Stack>
          <Textarea label="Why is it skipped?" description="Owners see the reason with the task." data-autofocus value={skipReason} onChange={(e) => setSkipReason(e.currentTarget.value)} minRows={2} autosize />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setSkipOpen(false)}>Cancel</Button>
            <Button color="orange" disabled={!skipReason.trim()} loading={skip.isPending} onClick={() => skip.mutate({ projectId, taskId, reason: skipReason })}>Skip and go on</Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}

/** Every overlay of the template, each saying that the overlays could not be read (and why). */
function overlayError(message: string, tpl: TaskTemplate | null): LabelOverlay[] {
  return Object.entries(tpl?.overlays ?? {}).map(([name, o]) => ({ name, label: o.label, url: null, labels: null, labelmap: null, message: `${o.label} could not be read: ${message}` }));
}
