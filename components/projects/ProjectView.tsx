"use client";
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Anchor, Breadcrumbs, Group, Skeleton, Stack, Tabs, Text, Title } from "@mantine/core";
import { IconInfoCircle, IconUsers, IconHistory, IconInbox, IconArchive, IconFolders, IconShieldExclamation, IconUpload, IconTopologyStar3, IconRoute, IconChecklist } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { AccessibilityBadge, RoleBadge } from "./labels";
import { RequestAccessButton } from "./AccessRequests";
import { ProjectOverview } from "./ProjectOverview";
import { lazyPanel } from "@/components/ui/lazy-panel";
import { firstArchivePage, firstQuarantinePage } from "./first-pages";

// Each tab's code is its own chunk, fetched when the tab is shown (the tab the page opens on is
// fetched at once, beside the project): a page carries only what its tab needs (issue #21).
const LAZY = {
  members: lazyPanel(() => import("./MembersPanel").then((m) => m.MembersPanel)),
  audit: lazyPanel(() => import("./AuditPanel").then((m) => m.AuditPanel)),
  intake: lazyPanel(() => import("./IntakePanel").then((m) => m.IntakePanel)),
  archive: lazyPanel(() => import("./ArchivePanel").then((m) => m.ArchivePanel)),
  browse: lazyPanel(() => import("./BrowsePanel").then((m) => m.BrowsePanel)),
  quarantine: lazyPanel(() => import("./QuarantinePanel").then((m) => m.QuarantinePanel)),
  upload: lazyPanel(() => import("./UploadPanel").then((m) => m.UploadPanel)),
  pipelines: lazyPanel(() => import("@/components/pipelines/PipelinesTab").then((m) => m.PipelinesTab)),
  workflow: lazyPanel(() => import("@/components/governor/WorkflowPanel").then((m) => m.WorkflowPanel)),
  tasks: lazyPanel(() => import("@/components/tasks/ProjectTasksPanel").then((m) => m.ProjectTasksPanel)),
};
const { members: MembersPanel, audit: AuditPanel, intake: IntakePanel, archive: ArchivePanel, browse: BrowsePanel, quarantine: QuarantinePanel, upload: UploadPanel, pipelines: PipelinesTab, workflow: WorkflowPanel, tasks: ProjectTasksPanel } = LAZY;

export function ProjectView({ projectId, initialTab }: { projectId: string; initialTab: string }) {
  const trpc = useTRPC();
  // The tab is in the URL (?tab=…): Back returns to the previous tab, reload keeps it.
  const router = useRouter();
  const pathname = usePathname();
  const params = useSearchParams();
  // "runs" was the tab of reported runs before they joined the Pipelines tab: old links still land there.
  const askedTab = params.get("tab") ?? initialTab;
  const tab = askedTab === "runs" ? "pipelines" : askedTab;
  const project = useQuery(trpc.project.get.queryOptions({ projectId }, { retry: false }));
  // A list tab opened directly asks for its first page together with the project (one request),
  // not once the project has arrived: a round trip less before its rows show.
  const queryClient = useQueryClient();
  useEffect(() => {
    void LAZY[tab as keyof typeof LAZY]?.preload().catch(() => undefined);
    if (askedTab === "quarantine") void queryClient.prefetchQuery({ ...trpc.intake.quarantine.queryOptions(firstQuarantinePage(projectId)), retry: false });
    if (askedTab === "archive") {
      void queryClient.prefetchQuery({ ...trpc.archive.status.queryOptions(firstArchivePage(projectId)), retry: false });
      void queryClient.prefetchQuery({ ...trpc.archive.target.queryOptions({ projectId }), retry: false });
    }
    // Only the tab the page was opened on: switching tabs later loads as usual.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  if (project.isPending) return <Stack><Skeleton h={36} w={300} /><Skeleton h={200} /></Stack>;
  if (project.error) {
    return (
      <Stack>
        <Breadcrumbs><Anchor component={Link} href="/projects">Projects</Anchor><Text>{projectId}</Text></Breadcrumbs>
        <ErrorAlert error={project.error} title="Cannot open this project" />
      </Stack>
    );
  }
  const p = project.data;
  const isOwner = p.access === "owner";
  const canReadData = p.access !== "listed";
  const canSeeQuarantine = p.access === "member" || isOwner;
  const canUpload = p.access === "member" || isOwner;
  const selectTab = (v: string | null) => {
    const next = v ?? "overview";
    if (next !== tab) router.push(`${pathname}?tab=${next}`, { scroll: false });
  };

  return (
    <Stack gap="lg">
      <Breadcrumbs>
        <Anchor component={Link} href="/projects">Projects</Anchor>
        <Text ff="monospace">{p.id}</Text>
      </Breadcrumbs>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>{p.name}</Title>
          <Group gap="xs" mt={6}>
            <Text c="dimmed" ff="monospace" size="sm">{p.id}</Text>
            <AccessibilityBadge value={p.accessibility} />
            <RoleBadge role={p.myRole} />
          </Group>
        </div>
        {(p.myRole === null || p.myRole === "collaborator") && p.access !== "owner" && <RequestAccessButton projectId={p.id} currentRole={p.myRole === "collaborator" ? "collaborator" : null} />}
      </Group>
      <Tabs value={tab} onChange={selectTab} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="overview" leftSection={<IconInfoCircle size={16} />}>Overview</Tabs.Tab>
          {canReadData && <Tabs.Tab value="browse" leftSection={<IconFolders size={16} />}>Browse</Tabs.Tab>}
          {canReadData && <Tabs.Tab value="intake" leftSection={<IconInbox size={16} />}>Intake</Tabs.Tab>}
          {canUpload && <Tabs.Tab value="upload" leftSection={<IconUpload size={16} />}>Upload</Tabs.Tab>}
          {canSeeQuarantine && <Tabs.Tab value="quarantine" leftSection={<IconShieldExclamation size={16} />}>Quarantine</Tabs.Tab>}
          {canUpload && <Tabs.Tab value="tasks" leftSection={<IconChecklist size={16} />}>Tasks</Tabs.Tab>}
          {canReadData && <Tabs.Tab value="archive" leftSection={<IconArchive size={16} />}>Archive</Tabs.Tab>}
          {canReadData && <Tabs.Tab value="workflow" leftSection={<IconRoute size={16} />}>Workflow</Tabs.Tab>}
          {canReadData && <Tabs.Tab value="pipelines" leftSection={<IconTopologyStar3 size={16} />}>Pipelines</Tabs.Tab>}
          <Tabs.Tab value="members" leftSection={<IconUsers size={16} />}>Members ({p.memberCount})</Tabs.Tab>
          {isOwner && <Tabs.Tab value="audit" leftSection={<IconHistory size={16} />}>Audit log</Tabs.Tab>}
        </Tabs.List>
        <Tabs.Panel value="overview" pt="lg"><ProjectOverview project={p} /></Tabs.Panel>
        {canReadData && <Tabs.Panel value="browse" pt="lg"><BrowsePanel projectId={p.id} /></Tabs.Panel>}
        {canReadData && (
          <Tabs.Panel value="intake" pt="lg">
            <IntakePanel projectId={p.id} isOwner={isOwner} canSeeQuarantine={canSeeQuarantine} />
          </Tabs.Panel>
        )}
        {canReadData && <Tabs.Panel value="archive" pt="lg"><ArchivePanel projectId={p.id} isOwner={isOwner} /></Tabs.Panel>}
        {canReadData && <Tabs.Panel value="workflow" pt="lg"><WorkflowPanel projectId={p.id} isOwner={isOwner} /></Tabs.Panel>}
        {canReadData && (
          <Tabs.Panel value="pipelines" pt="lg">
            <PipelinesTab projectId={p.id} canRun={canUpload} isOwner={isOwner} />
          </Tabs.Panel>
        )}
        {canSeeQuarantine && <Tabs.Panel value="quarantine" pt="lg"><QuarantinePanel projectId={p.id} isOwner={isOwner} /></Tabs.Panel>}
        {canUpload && <Tabs.Panel value="tasks" pt="lg"><ProjectTasksPanel projectId={p.id} isOwner={isOwner} /></Tabs.Panel>}
        {canUpload && <Tabs.Panel value="upload" pt="lg"><UploadPanel projectId={p.id} /></Tabs.Panel>}
        <Tabs.Panel value="members" pt="lg"><MembersPanel projectId={p.id} canRead={canReadData} isOwner={isOwner} /></Tabs.Panel>
        {isOwner && <Tabs.Panel value="audit" pt="lg"><AuditPanel projectId={p.id} /></Tabs.Panel>}
      </Tabs>
    </Stack>
  );
}
