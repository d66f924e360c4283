// The access matrix: every tRPC procedure × every kind of caller × every project accessibility.
// Expected outcomes are written from the issue's rules, independently of lib/access.
// A procedure in appRouter without a row here fails the first test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { appRouter } from "@/server/routers";
import { createTestDatabase } from "../helpers/pg";
import { readFileSync } from "node:fs";
import path from "node:path";
import { SAMPLES_DIR } from "@/lib/samples";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { actors, callerFor, createPeople, createProjectFixture, FIXTURE_WORKFLOW, snapshot, trackChanges, type Actor, type People, type ProjectFixture } from "../helpers/fixtures";

type Accessibility = "private" | "protected" | "public";
type Level = "none" | "listed" | "collaborator" | "member" | "owner";
type Requirement = "public" | "signedIn" | "siteAdmin" | Exclude<Level, "none">;

/** What each caller may do in a project, as the Foundation issue states it. */
const LEVEL: Record<Actor, Record<Accessibility, Level>> = {
  anonymous: { private: "none", protected: "none", public: "none" },
  outsider: { private: "none", protected: "listed", public: "collaborator" },
  collaborator: { private: "collaborator", protected: "collaborator", public: "collaborator" },
  member: { private: "member", protected: "member", public: "member" },
  owner: { private: "owner", protected: "owner", public: "owner" },
  siteAdmin: { private: "owner", protected: "owner", public: "owner" },
};
const ORDER: Level[] = ["none", "listed", "collaborator", "member", "owner"];

interface Row {
  requires: Requirement;
  mutates: boolean;
  /** When only some allowed callers change something (the others are answered without a change). */
  mutatesFor?: Actor[];
  input: (f: ProjectFixture, people: People, n: number) => unknown;
}

const MATRIX: Record<string, Row> = {
  "me.get": { requires: "public", mutates: false, input: () => undefined },
  "project.list": { requires: "signedIn", mutates: false, input: () => ({}) },
  // Who may create projects is a site setting; with ATRIUM_ADMINS set its default is "admins" (the
  // setting "all" is checked below, in "project.create when the site lets everyone create projects").
  "project.create": { requires: "siteAdmin", mutates: true, input: (_f, _p, n) => ({ id: `NEW_${n}`, name: "New" }) },
  "project.creation": { requires: "signedIn", mutates: false, input: () => undefined },
  "project.get": { requires: "listed", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "project.update": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, name: "Renamed" }) },
  // Members and owners have what a request could give: they are answered, nothing is recorded.
  "member.requestAccess": { requires: "listed", mutates: true, mutatesFor: ["outsider", "collaborator", "siteAdmin"], input: (f) => ({ projectId: f.projectId, message: "I run the reading study" }) },
  "member.myAccessRequest": { requires: "listed", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "member.accessRequests": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "member.decideAccess": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, requestId: f.accessRequestId, decision: "approve" }) },
  "member.list": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "member.invite": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, email: "newcomer@atrium.test", role: "collaborator" }),
  },
  "member.changeRole": {
    requires: "owner",
    mutates: true,
    input: (f, p) => ({ projectId: f.projectId, userId: p.users.target.id, role: "collaborator" }),
  },
  "member.remove": { requires: "owner", mutates: true, input: (f, p) => ({ projectId: f.projectId, userId: p.users.target.id }) },
  "member.cancelInvitation": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, invitationId: f.invitationId }),
  },
  "audit.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "admin.users": { requires: "siteAdmin", mutates: false, input: () => undefined },
  "monitoring.overview": { requires: "siteAdmin", mutates: false, input: () => undefined },
  "monitoring.live": { requires: "siteAdmin", mutates: false, input: () => ({ intervalMs: 1000 }) },
  "monitoring.caseChain": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, experimentId: f.archiveExperimentId }) },
  "intake.settings": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "intake.updateSettings": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, stableAfterSeconds: 30 }) },
  "intake.addAeRoute": { requires: "owner", mutates: true, input: (f, _p, n) => ({ projectId: f.projectId, aeTitle: `NEWAE${n}` }) },
  "intake.removeAeRoute": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, aeTitle: f.aeTitle }) },
  "intake.summary": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "intake.quarantine": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  // Viewing identifying header values is itself audited: an allowed call writes an audit event.
  "intake.originalHeader": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "intake.retry": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "intake.deleteQuarantined": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "intake.quarantineBulk": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, action: "retry", selection: { kind: "ids", ids: [f.quarantinedId] } }) },
  "token.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "token.create": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, name: "PACS export", scopes: ["stow"] }) },
  "token.revoke": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, tokenId: f.tokenId }) },
  // Webhook sources hold signing secrets and node credentials: owners only.
  "webhook.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "webhook.create": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, name: "PACS", nodeKind: "orthanc", nodeUrl: "http://orthanc.example:8042" }),
  },
  "webhook.setEnabled": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId, enabled: false }) },
  "webhook.rotateSecret": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId }) },
  "webhook.remove": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId }) },
  // The archive target holds XNAT credentials (never returned); collaborators see where data goes and its status.
  "archive.target": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "archive.setTarget": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, kind: "xnat", xnatUrl: "https://xnat.example.org", xnatProject: "STUDY1", xnatUser: "atrium", xnatSecret: "pw" }),
  },
  // Connecting to an unreachable XNAT answers {ok: false, message}, it does not throw.
  "archive.testConnection": {
    requires: "owner",
    mutates: false,
    input: (f) => ({ projectId: f.projectId, xnat: { xnatUrl: "http://127.0.0.1:9", xnatProject: "STUDY1", xnatUser: "atrium", xnatSecret: "pw" } }),
  },
  "archive.status": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "archive.retry": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, studyId: f.failedArchiveStudyId }) },
  // Forwarding (#19): owners configure destinations (secrets never returned); collaborators see them and their state.
  "forward.destinations": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "forward.status": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "forward.create": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, destination: { kind: "dicom", name: "PACS", host: "pacs.example.org", port: 104, calledAe: "PACS" } }),
  },
  "forward.update": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, destinationId: f.forwardDestinationId, destination: { kind: "dicom", name: "Renamed", enabled: false, host: "127.0.0.1", port: 9, calledAe: "FIXTURE" } }),
  },
  "forward.setEnabled": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, destinationId: f.forwardDestinationId, enabled: true }) },
  "forward.remove": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, destinationId: f.forwardDestinationId }) },
  // An unreachable node answers {ok: false, message}, it does not throw.
  "forward.testConnection": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId, destinationId: f.forwardDestinationId }) },
  "forward.retry": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, forwardId: f.failedForwardId }) },
  "archive.retryMany": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, selection: { kind: "ids", ids: [f.failedArchiveStudyId] } }) },
  // Browsing the archive reads data: collaborators. Whether collaborators may download: owners.
  "browse.overview": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "browse.subjects": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, search: "FIX" }) },
  "browse.experiments": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, subject: "FIXSUBJ" }) },
  "browse.scanView": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, scanId: f.archiveScanId }) },
  // Reads the stored SR/SEG files: the download rule (collaborators only when the project allows).
  "browse.archivedResults": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, experimentId: f.archiveExperimentId }) },
  "browse.search": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, modality: "MR" }) },
  "browse.scans": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, experimentId: f.archiveExperimentId }) },
  "browse.setCollaboratorDownload": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, allowed: true }) },
  // Quarantine actions and routing rules (owners act; members read).
  "intake.routeToProject": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId, targetProjectId: ROUTE_TARGET }),
  },
  "rules.list": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "rules.create": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, expression: 'Modality == "CT"', acceptOnlyMatching: true }) },
  "rules.update": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, ruleId: f.ruleId, description: "MR only" }) },
  "rules.reorder": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, ruleIds: [f.ruleId] }) },
  "rules.remove": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, ruleId: f.ruleId }) },
  // Reads the sample in memory only: nothing is stored.
  "rules.test": {
    requires: "owner",
    mutates: false,
    input: (f) => ({ projectId: f.projectId, expression: 'Modality == "MR"', sampleBase64: Buffer.from("not DICOM").toString("base64") }),
  },
  // Instances no project accepted: site admins only; viewing the header is audited.
  "admin.unrouted": { requires: "siteAdmin", mutates: false, input: () => ({}) },
  "admin.unroutedHeader": { requires: "siteAdmin", mutates: true, input: (f) => ({ instanceId: f.unroutedId }) },
  "admin.rerouteUnrouted": { requires: "siteAdmin", mutates: true, input: (f) => ({ instanceId: f.unroutedId }) },
  "admin.routeUnrouted": { requires: "siteAdmin", mutates: true, input: (f) => ({ instanceId: f.unroutedId, targetProjectId: f.projectId }) },
  "admin.deleteUnrouted": { requires: "siteAdmin", mutates: true, input: (f) => ({ instanceId: f.unroutedId }) },
  // The de-identification floor (issue #17): previews show original values (owners, audited);
  // the floor and approvals are site admins' (each allowed call decides a fresh pending request).
  "intake.previewDeid": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sampleBase64: PREVIEW_SAMPLE }) },
  "intake.previewSamples": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "admin.deidFloor": { requires: "siteAdmin", mutates: false, input: () => undefined },
  "admin.setDeidFloor": { requires: "siteAdmin", mutates: true, input: (_f, _p, n) => ({ allowedRetain: n % 2 ? ["retainUIDs"] : [] }) },
  "admin.decideDeidApproval": { requires: "siteAdmin", mutates: true, input: () => ({ approvalId: MATRIX_APPROVALS.shift()!, approve: false, note: "matrix" }) },
  // Site governance (issue #17 §1). The reorder row comes before setSiteRouting: with no project
  // enabled yet, the empty order is the complete one (and is audited).
  "rules.siteRouting": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "admin.siteRouting": { requires: "siteAdmin", mutates: false, input: () => undefined },
  "admin.reorderSiteRouting": { requires: "siteAdmin", mutates: true, input: () => ({ projectIds: [] }) },
  "admin.setSiteRouting": { requires: "siteAdmin", mutates: true, input: (f) => ({ projectId: f.projectId, enabled: true }) },
  "admin.projectCreation": { requires: "siteAdmin", mutates: false, input: () => undefined },
  "admin.setProjectCreation": { requires: "siteAdmin", mutates: true, input: () => ({ policy: "admins" }) },
  "admin.audit": { requires: "siteAdmin", mutates: false, input: () => ({ action: "header.view" }) },
  // Browser upload (the HTTP route POST /api/projects/{id}/upload is tested in tests/intake/upload.test.ts).
  "upload.batch": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, batchId: "6f1c2a4e-0b7d-4c1e-9a53-2d8e7f4b1c90" }) },
  // Pixel review: collaborators see that data is held (counts), members the queue (reasons, no
  // pixels); owners view the images, decide (release, delete) and change the pixel rules, audited.
  "pixels.counts": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "pixels.held": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "pixels.get": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId, instanceId: f.heldId }) },
  "pixels.release": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.heldId, regions: [] }) },
  "pixels.delete": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.heldId }) },
  "pixels.rules": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "pixels.createRule": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, signature: 'Manufacturer.equals("ACME")', regions: [{ x: 0, y: 0, w: 10, h: 10 }] }) },
  "pixels.updateRule": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, ruleId: f.pixelRuleId, enabled: false }) },
  "pixels.removeRule": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, ruleId: f.pixelRuleId }) },
  // Tasks (issue #14): readers (members) take, draft, submit and skip; owners manage templates and
  // groups and may release anyone's lock (a member releasing another reader's lock is refused).
  // Collaborators read tasks only when the project allows it (off here; see "tasks: collaborators").
  // Runs reported from outside through /pim (issue #13): whoever reads the project's data sees them.
  "reportedRuns.list": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "reportedRuns.get": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, runId: f.reportedRunId }) },
  "reportedRuns.changes": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, runId: f.reportedRunId }) },
  "reportedRuns.job": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, runId: f.reportedRunId, path: f.reportedJobPath }) },
  "pipeline.tools": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "pipeline.pipelines": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "pipeline.definition": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, pipelineRowId: f.pipelineRowId }) },
  // Owners define tools and pipelines; members run them; collaborators read runs, jobs, logs and provenance.
  "pipeline.registerTool": { requires: "owner", mutates: true, input: (f, _p, n) => ({ projectId: f.projectId, text: `kind: tool\nid: t${n}\nversion: "1"\ncommand: [echo, hello]\n` }) },
  "pipeline.registerPipeline": { requires: "owner", mutates: true, input: (f, _p, n) => ({ projectId: f.projectId, text: `kind: pipeline\nid: p${n}\nversion: 1\nsources: { s: { from: scans } }\nnodes:\n  a: { tool: fixture-echo, in: { dicom: s } }\n` }) },
  "pipeline.start": { requires: "member", mutates: true, input: (f) => ({ projectId: f.projectId, pipeline: "fixture", experimentIds: [f.archiveExperimentId] }) },
  "pipeline.runs": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "pipeline.runChanges": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, runId: f.failedRunId }) },
  "pipeline.run": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, runId: f.failedRunId }) },
  "pipeline.job": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, jobId: f.pipelineJobId }) },
  "pipeline.jobLog": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, jobId: f.pipelineJobId }) },
  "pipeline.results": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, experimentId: f.archiveExperimentId }) },
  "pipeline.provenance": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, runId: f.failedRunId }) },
  "pipeline.cancel": { requires: "member", mutates: true, input: (f) => ({ projectId: f.projectId, runId: f.runningRunId }) },
  "pipeline.rerunFailed": { requires: "member", mutates: true, input: (f) => ({ projectId: f.projectId, runId: f.failedRunId }) },
  "tasks.queues": { requires: "signedIn", mutates: false, input: () => undefined },
  "tasks.createApiToken": { requires: "signedIn", mutates: true, input: () => ({ name: "viewer" }) },
  "tasks.list": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "tasks.get": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, taskId: f.taskId }) },
  "tasks.overlays": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, taskId: f.taskId }) },
  "tasks.view": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, taskId: f.taskId }) },
  "tasks.templates": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "tasks.groups": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "tasks.results": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId, groupId: f.taskGroupId }) },
  "tasks.agreement": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId, groupId: f.taskGroupId }) },
  "tasks.export": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId, groupId: f.taskGroupId, format: "csv" }) },
  "tasks.saveTemplate": { requires: "owner", mutates: true, input: (f, _p, n) => ({ projectId: f.projectId, name: `t${n}`, source: DEMO_QC_TEMPLATE }) },
  "tasks.createGroup": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, label: "G", templateId: f.taskTemplateId, experimentIds: [f.archiveExperimentId] }) },
  "tasks.startNext": { requires: "member", mutates: true, input: (f) => ({ projectId: f.projectId, groupId: f.taskGroupId }) },
  "tasks.saveDraft": { requires: "member", mutates: true, input: (f) => ({ projectId: f.projectId, taskId: f.taskId, answers: { usable: "yes" } }) },
  "tasks.submit": { requires: "member", mutates: true, input: (f) => ({ projectId: f.projectId, taskId: f.taskId, answers: { usable: "yes" } }) },
  "tasks.skip": { requires: "member", mutates: true, input: (f) => ({ projectId: f.projectId, taskId: f.taskId, reason: "wrong anatomy" }) },
  "tasks.review": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, taskId: f.submittedTaskId, decision: "returned", comment: "measure on the axial series" }) },
  "tasks.release": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, taskId: f.lockedTaskId }) },
  // A task's versions: its own reader (the member read the submitted task) and owners; exports again: owners.
  "tasks.history": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, taskId: f.submittedTaskId }) },
  "tasks.exportResult": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, taskId: f.submittedTaskId }) },
  // Workflows (issue #16): collaborators read the workflow, the board and experiments' histories;
  // owners import workflows, force states (with a reason), retry failed callbacks and pause; audited.
  "governor.workflow": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "governor.importWorkflow": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, source: FIXTURE_WORKFLOW }) },
  "governor.board": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "governor.experiment": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, experimentId: f.archiveExperimentId }) },
  "governor.setState": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, experimentId: f.archiveExperimentId, state: "done", reason: "checked by hand" }) },
  "governor.retry": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, executionId: f.governorExecutionId }) },
  "governor.migrationPreview": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId, choices: {} }) },
  "governor.migrate": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, choices: {}, expected: 1 }) },
  "governor.export": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId, format: "csv" }) },
  "governor.expected": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "governor.saveExpected": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, source: "visits:\n  - {label: baseline, scans: [{label: T1, modality: MR}]}\n" }) },
  "governor.pause": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, experimentId: f.archiveExperimentId, paused: true }) },
};

const PREVIEW_SAMPLE = readFileSync(path.join(SAMPLES_DIR, "pydicom__CT_small.dcm")).toString("base64");
/** Pending floor-approval requests, one per call of admin.decideDeidApproval. */
const MATRIX_APPROVALS = Array.from({ length: 24 }, (_, i) => `matrix-approval-${i}`);

/** A project the owner (and so every site admin) owns: where intake.routeToProject sends instances. */
const ROUTE_TARGET = "ROUTE_TARGET";

type Expected = { allowed: true } | { allowed: false; code: "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" };

function expected(row: Row, actor: Actor, acc: Accessibility): Expected {
  if (row.requires === "public") return { allowed: true };
  if (actor === "anonymous") return { allowed: false, code: "UNAUTHORIZED" };
  if (row.requires === "signedIn") return { allowed: true };
  if (row.requires === "siteAdmin") return actor === "siteAdmin" ? { allowed: true } : { allowed: false, code: "FORBIDDEN" };
  const level = LEVEL[actor][acc];
  if (level === "none") return { allowed: false, code: "NOT_FOUND" };
  return ORDER.indexOf(level) >= ORDER.indexOf(row.requires) ? { allowed: true } : { allowed: false, code: "FORBIDDEN" };
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;

beforeAll(async () => {
  db = await createTestDatabase();
  await trackChanges(db.prisma);
  people = await createPeople(db.prisma);
  await db.prisma.project.create({
    data: { id: ROUTE_TARGET, idLower: ROUTE_TARGET.toLowerCase(), name: "Route target", members: { create: { userId: people.users.owner.id, role: "owner" } } },
  });
  await db.prisma.deidApproval.createMany({
    data: MATRIX_APPROVALS.map((id) => ({ id, projectId: ROUTE_TARGET, kind: "profile", setting: "basic+retainUIDs", settingHash: id, exceptions: { options: ["retainUIDs"], tags: [], keepPrivate: false } })),
  });
});
afterAll(async () => {
  await db?.drop();
  const { closeQueues, getQueue } = await import("@/server/queues");
  await getQueue("deid").obliterate({ force: true });
  await getQueue("archive").obliterate({ force: true });
  await getQueue("governor").obliterate({ force: true });
  await getQueue("compute").obliterate({ force: true });
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
});

it("every procedure of the API has a row in the matrix, and every row names a procedure", () => {
  const procedures = Object.keys(appRouter._def.procedures).sort();
  expect(procedures).toEqual(Object.keys(MATRIX).sort());
});

let n = 0;
for (const [path, row] of Object.entries(MATRIX)) {
  describe(path, () => {
    for (const acc of ["private", "protected", "public"] as const) {
      for (const actor of actors) {
        const want = expected(row, actor, acc);
        it(`${actor} on a ${acc} project: ${want.allowed ? "allowed" : `denied (${want.code})`}`, async () => {
          const i = ++n;
          const fixture = await createProjectFixture(db.prisma, people, `P${i}_${acc.slice(0, 3)}`, acc);
          const caller = callerFor(db.prisma, people.sessions[actor]) as unknown as Record<string, Record<string, (x: unknown) => Promise<unknown>>>;
          const [group, proc] = path.split(".") as [string, string];
          const before = await snapshot(db.prisma);
          let error: unknown = null;
          try {
            await caller[group]![proc]!(row.input(fixture, people, i));
          } catch (e) {
            error = e;
          }
          const after = await snapshot(db.prisma);
          if (want.allowed) {
            expect(error, `expected ${path} to be allowed for ${actor}`).toBeNull();
            if (row.mutates && (!row.mutatesFor || row.mutatesFor.includes(actor))) expect(after, "an allowed change must change something (and audit it)").not.toEqual(before);
            else expect(after).toEqual(before);
          } else {
            expect(error).toBeInstanceOf(TRPCError);
            expect((error as TRPCError).code).toBe(want.code);
            expect((error as TRPCError).message.length).toBeGreaterThan(10);
            expect(after, "a denied call must change nothing").toEqual(before);
          }
        });
      }
    }
  });
}

describe("project.create when the site lets everyone create projects", () => {
  for (const actor of actors) {
    const want = actor === "anonymous" ? "UNAUTHORIZED" : "allowed";
    it(`${actor}: ${want === "allowed" ? "allowed" : `denied (${want})`}`, async () => {
      await db.prisma.siteSettings.upsert({ where: { id: "site" }, create: { projectCreation: "all" }, update: { projectCreation: "all" } });
      try {
        const id = `ALL_${++n}`;
        const created = await callerFor(db.prisma, people.sessions[actor]).project.create({ id, name: "New" }).catch((e: unknown) => e);
        if (want === "allowed") expect(created).toEqual({ id });
        else expect((created as TRPCError).code).toBe(want);
      } finally {
        await db.prisma.siteSettings.update({ where: { id: "site" }, data: { projectCreation: null } });
      }
    });
  }
});

describe("tasks: collaborators read tasks only when the project allows it", () => {
  it("tasks.list and tasks.get: refused to a collaborator until an owner allows it", async () => {
    const f = await createProjectFixture(db.prisma, people, "TASKS_COLLAB", "private");
    const c = callerFor(db.prisma, people.sessions.collaborator);
    await expect(c.tasks.list({ projectId: f.projectId })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await db.prisma.project.update({ where: { id: f.projectId }, data: { collaboratorsReadTasks: true } });
    // The fixture's free, locked and submitted tasks.
    expect((await c.tasks.list({ projectId: f.projectId })).length).toBe(3);
    expect((await c.tasks.get({ projectId: f.projectId, taskId: f.taskId })).id).toBe(f.taskId);
    await expect(c.tasks.startNext({ projectId: f.projectId, groupId: f.taskGroupId })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});

describe("what each caller sees", () => {
  it("project.list shows members their projects, everyone the protected and public ones, admins all", async () => {
    const p = await createPeople(db.prisma, "-list");
    const priv = await createProjectFixture(db.prisma, p, "LIST_PRIV", "private");
    const prot = await createProjectFixture(db.prisma, p, "LIST_PROT", "protected");
    const pub = await createProjectFixture(db.prisma, p, "LIST_PUB", "public");
    const ids = async (who: People["sessions"][Actor]) =>
      (await callerFor(db.prisma, who).project.list({ search: "LIST_" })).map((x) => x.id).sort();
    expect(p.sessions.siteAdmin?.siteAdmin, "only ATRIUM_ADMINS are site admins").toBe(false);
    expect(await ids(p.sessions.siteAdmin)).toEqual([prot.projectId, pub.projectId].sort());
    expect(await ids(p.sessions.outsider)).toEqual([prot.projectId, pub.projectId].sort());
    expect(await ids(p.sessions.collaborator)).toEqual([priv.projectId, prot.projectId, pub.projectId].sort());
    expect(await ids(people.sessions.siteAdmin)).toEqual([priv.projectId, prot.projectId, pub.projectId].sort());
  });

  it("member.list hides pending invitations from everyone but owners", async () => {
    const f = await createProjectFixture(db.prisma, people, "INV_VIS", "private");
    const asMember = await callerFor(db.prisma, people.sessions.member).member.list({ projectId: f.projectId });
    const asOwner = await callerFor(db.prisma, people.sessions.owner).member.list({ projectId: f.projectId });
    expect(asMember.invitations).toEqual([]);
    expect(asOwner.invitations.map((i) => i.id)).toEqual([f.invitationId]);
  });
});

// ---- HTTP routes: DICOMweb over the local archive (and STOW-RS into a project) ------------------
// Every route file under app/dicomweb/projects/ × every caller (sessions and API tokens) × every
// accessibility. Reads need collaborator (or a token with the "read" scope), STOW needs member (or
// "stow"). Routes that return stored bytes (WADO-RS retrieve, metadata, frames, bulk data; marked
// `bytes`) follow the download rule: collaborators only when the project allows collaborator
// download (off in these projects), and an allowed read is audited once per reader and study.
// A route file or method without a row here fails the first test of this block.
describe("DICOMweb routes (HTTP)", () => {
  type Method = "GET" | "POST";
  interface HttpRow {
    requires: "collaborator" | "member";
    scope: "read" | "stow";
    /** The route file under app/dicomweb/projects/[projectId]/ and its method. */
    file: string;
    method: Method;
    /** The path below /dicomweb/projects/{p}/ and the catch-all segments the route gets. */
    path: (s: ArchivedIds) => string;
    /** Returns stored bytes: the download rule applies, and reads are audited. */
    bytes?: true;
  }
  interface ArchivedIds {
    study: string;
    series: string;
    sop: string;
  }
  const inst = (s: ArchivedIds) => `studies/${s.study}/series/${s.series}/instances/${s.sop}`;
  const HTTP: Record<string, HttpRow> = {
    "QIDO studies": { requires: "collaborator", scope: "read", file: "studies/route.ts", method: "GET", path: () => "studies" },
    "STOW-RS into the project": { requires: "member", scope: "stow", file: "studies/route.ts", method: "POST", path: () => "studies" },
    "QIDO series (project)": { requires: "collaborator", scope: "read", file: "series/route.ts", method: "GET", path: () => "series" },
    "QIDO instances (project)": { requires: "collaborator", scope: "read", file: "instances/route.ts", method: "GET", path: () => "instances" },
    "WADO study": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}` },
    "WADO study metadata": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/metadata` },
    "QIDO series of a study": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series` },
    "QIDO instances of a study": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/instances` },
    "study thumbnail": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/thumbnail` },
    "WADO series": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}` },
    "WADO series metadata": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}/metadata` },
    "QIDO instances of a series": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}/instances` },
    "series thumbnail": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}/thumbnail` },
    "WADO instance": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => inst(s) },
    "WADO instance metadata": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/metadata` },
    "WADO frames": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/frames/1` },
    "series pixel data (every frame)": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}/pixeldata` },
    "WADO bulkdata": { bytes: true, requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/bulkdata/7FE00010` },
    "instance rendered": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/rendered` },
    "instance thumbnail": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/thumbnail` },
    "frame rendered": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/frames/1/rendered` },
    "frame thumbnail": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/frames/1/thumbnail` },
  };
  const tokenKinds = ["readToken", "stowToken", "otherProjectToken"] as const;
  type Caller = Actor | (typeof tokenKinds)[number];
  const ROUTES_DIR = "app/dicomweb/projects/[projectId]";
  const SAMPLE = "pydicom__CT_small.dcm";

  const projects = {} as Record<Accessibility, { id: string; ids: ArchivedIds }>;
  const cookies = {} as Record<Actor, string | null>;
  const tokens = {} as Record<Accessibility, Record<(typeof tokenKinds)[number], string>>;
  const routeModules = new Map<string, Record<Method, (req: Request, ctx: { params: Promise<Record<string, unknown>> }) => Promise<Response>>>();
  let dataDir: string;
  let previousDataDir: string | undefined;

  beforeAll(async () => {
    const os = await import("node:os");
    const fs = await import("node:fs");
    const path = await import("node:path");
    const { setDbHandle } = await import("@/server/db");
    const { createSession, SESSION_COOKIE } = await import("@/server/auth/session");
    const { generateToken } = await import("@/lib/tokens");
    const { archiveSamples } = await import("../dicomweb/read-helpers");
    previousDataDir = process.env.ATRIUM_DATA_DIR;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-matrix-dicomweb-"));
    process.env.ATRIUM_DATA_DIR = dataDir;
    setDbHandle(Promise.resolve(db.handle));
    for (const actor of actors) {
      const user = actor === "anonymous" ? null : people.users[actor];
      cookies[actor] = user ? `${SESSION_COOKIE}=${(await createSession(db.prisma, user.id)).token}` : null;
    }
    const other = await createProjectFixture(db.prisma, people, "DW_OTHER", "private");
    for (const acc of ["private", "protected", "public"] as const) {
      const f = await createProjectFixture(db.prisma, people, `DW_${acc.slice(0, 3)}`, acc);
      const [file] = await archiveSamples(db.prisma, f.projectId, [SAMPLE]);
      projects[acc] = { id: f.projectId, ids: { study: file!.studyInstanceUid, series: file!.seriesInstanceUid, sop: file!.sopInstanceUid } };
      const mk = async (projectId: string, scopes: string[]) => {
        const t = generateToken();
        await db.prisma.projectApiToken.create({ data: { projectId, name: "matrix", prefix: t.prefix, tokenHash: t.tokenHash, scopes, createdById: people.users.owner.id } });
        return t.token;
      };
      tokens[acc] = { readToken: await mk(f.projectId, ["read"]), stowToken: await mk(f.projectId, ["stow"]), otherProjectToken: await mk(other.projectId, ["read", "stow"]) };
    }
    for (const file of new Set(Object.values(HTTP).map((r) => r.file))) {
      routeModules.set(file, (await import(/* @vite-ignore */ path.resolve(ROUTES_DIR, file))) as never);
    }
  });
  afterAll(async () => {
    const fs = await import("node:fs");
    const { setDbHandle } = await import("@/server/db");
    setDbHandle(undefined);
    if (previousDataDir === undefined) delete process.env.ATRIUM_DATA_DIR;
    else process.env.ATRIUM_DATA_DIR = previousDataDir;
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("every route file under app/dicomweb/projects/ and each of its methods has a row", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === "route.ts") {
          const src = fs.readFileSync(p, "utf8");
          for (const m of src.matchAll(/export async function (GET|POST|PUT|DELETE|PATCH|HEAD)\b/g)) found.push(`${m[1]} ${path.relative(ROUTES_DIR, p)}`);
        }
      }
    };
    walk(ROUTES_DIR);
    const rows = new Set(Object.values(HTTP).map((r) => `${r.method} ${r.file}`));
    expect([...new Set(found)].sort()).toEqual([...rows].sort());
  });

  function expectedStatus(row: HttpRow, caller: Caller, acc: Accessibility): number | "allowed" {
    if (caller === "readToken") return row.scope === "read" ? "allowed" : 403;
    if (caller === "stowToken") return row.scope === "stow" ? "allowed" : 403;
    if (caller === "otherProjectToken") return 403;
    const want = expected({ requires: row.requires, mutates: false, input: () => undefined }, caller, acc);
    if (want.allowed && row.bytes && LEVEL[caller][acc] === "collaborator") return 403;
    return want.allowed ? "allowed" : { UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404 }[want.code];
  }

  for (const [name, row] of Object.entries(HTTP)) {
    describe(`${row.method} /dicomweb/projects/{p}/${row.path({ study: "{study}", series: "{series}", sop: "{sop}" })} (${name})`, () => {
      for (const acc of ["private", "protected", "public"] as const) {
        for (const caller of [...actors, ...tokenKinds] as Caller[]) {
          const want = expectedStatus(row, caller, acc);
          it(`${caller} on a ${acc} project: ${want === "allowed" ? "allowed" : `denied (${want})`}`, async () => {
            const p = projects[acc];
            const sub = row.path(p.ids);
            const headers = new Headers();
            if ((actors as readonly string[]).includes(caller)) {
              const c = cookies[caller as Actor];
              if (c) headers.set("cookie", c);
            } else headers.set("authorization", `Bearer ${tokens[acc][caller as (typeof tokenKinds)[number]]}`);
            if (row.method === "POST") headers.set("content-type", "text/plain");
            const req = new Request(`http://atrium.test/dicomweb/projects/${p.id}/${sub}`, { method: row.method, headers, ...(row.method === "POST" ? { body: "not multipart" } : {}) });
            const params = row.file.includes("[...path]") ? { projectId: p.id, path: sub.split("/").slice(1) } : { projectId: p.id };
            // A token's lastUsedAt is written on use (at most once a minute): not a change this checks.
            const snap = () => snapshot(db.prisma, { ignoreColumns: ["lastUsedAt"] });
            const before = await snap();
            const res = await routeModules.get(row.file)![row.method](req, { params: Promise.resolve(params) });
            const body = await res.arrayBuffer();
            if (want === "allowed") {
              if (row.method === "POST") expect(res.status, "an allowed STOW reaches content-type checking").toBe(415);
              else expect(res.status, Buffer.from(body).toString().slice(0, 300)).toBe(200);
            } else {
              expect(res.status).toBe(want);
              const msg = (JSON.parse(Buffer.from(body).toString()) as { error: string }).error;
              expect(msg.length).toBeGreaterThan(10);
              if (want === 401) expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
            }
            if (want === "allowed" && row.bytes) {
              // The read is audited (once per reader and study and window): everything else is unchanged.
              const withoutAudit = (x: string) => {
                const snapshot = JSON.parse(x) as { tables: Record<string, unknown> };
                delete snapshot.tables.AuditEvent;
                return snapshot;
              };
              expect(withoutAudit(await snap())).toEqual(withoutAudit(before));
              const token = (actors as readonly string[]).includes(caller) ? null : caller;
              const audited = await db.prisma.auditEvent.findMany({ where: { projectId: p.id, action: "dicomweb.retrieve", targetType: "study", targetId: p.ids.study } });
              const mine = audited.filter((e) => (token ? (e.after as { via?: string }).via === "token" && e.actorId === null : e.actorId === people.users[caller as Exclude<Actor, "anonymous">].id));
              expect(mine.length, "an allowed read of stored bytes is audited, once per reader and study").toBe(1);
            } else expect(await snap(), "a DICOMweb read or a refused STOW changes nothing").toEqual(before);
          });
        }
      }
    });
  }

  it("with Collaborators may download on, collaborators read stored bytes too (and are audited)", async () => {
    const p = projects.protected;
    await db.prisma.project.update({ where: { id: p.id }, data: { allowCollaboratorDownload: true } });
    try {
      for (const [name, row] of Object.entries(HTTP).filter(([, r]) => r.bytes)) {
        const sub = row.path(p.ids);
        const req = new Request(`http://atrium.test/dicomweb/projects/${p.id}/${sub}`, { headers: { cookie: cookies.collaborator! } });
        const res = await routeModules.get(row.file)!.GET(req, { params: Promise.resolve({ projectId: p.id, path: sub.split("/").slice(1) }) });
        expect(res.status, name).toBe(200);
        await res.arrayBuffer();
      }
      const events = await db.prisma.auditEvent.count({ where: { projectId: p.id, action: "dicomweb.retrieve", actorId: people.users.collaborator.id, targetId: p.ids.study } });
      expect(events, "every read of stored bytes of one study: one audit event").toBe(1);
    } finally {
      await db.prisma.project.update({ where: { id: p.id }, data: { allowCollaboratorDownload: false } });
    }
  });
});


// HTTP routes of a project, over real HTTP: each caller × accessibility, as the same rules say.
describe("HTTP: download from the archive (GET and POST /api/projects/{id}/download)", () => {
  let server: import("../helpers/route-server").RouteServer;
  const cookies = {} as Record<Actor, string | null>;
  beforeAll(async () => {
    const { setDbHandle } = await import("@/server/db");
    const { createSession, SESSION_COOKIE } = await import("@/server/auth/session");
    const { startRouteServer } = await import("../helpers/route-server");
    setDbHandle(Promise.resolve(db.handle));
    for (const a of actors) {
      cookies[a] = a === "anonymous" ? null : `${SESSION_COOKIE}=${(await createSession(db.prisma, people.users[a].id)).token}`;
    }
    const route = await import("@/app/api/projects/[projectId]/download/route");
    const pattern = /^\/api\/projects\/(?<projectId>[^/]+)\/download$/;
    server = await startRouteServer([
      { method: "GET", pattern, handler: (req, ctx) => route.GET(req, ctx as { params: Promise<{ projectId: string }> }) },
      { method: "POST", pattern, handler: (req, ctx) => route.POST(req, ctx as { params: Promise<{ projectId: string }> }) },
    ]);
  });
  afterAll(async () => {
    await server?.close();
    (await import("@/server/db")).setDbHandle(undefined);
  });

  /** Downloading needs read access, and for collaborators the project's permission. */
  function expectedStatus(actor: Actor, acc: Accessibility, allowCollaboratorDownload: boolean): number {
    if (actor === "anonymous") return 401;
    const level = LEVEL[actor][acc];
    if (level === "none") return 404;
    if (level === "listed") return 403;
    if (level === "collaborator") return allowCollaboratorDownload ? 200 : 403;
    return 200;
  }

  for (const acc of ["private", "protected", "public"] as const) {
    for (const allow of [false, true]) {
      for (const actor of actors) {
        const want = expectedStatus(actor, acc, allow);
        it(`${actor} on a ${acc} project${allow ? " allowing collaborator download" : ""}: ${want}`, async () => {
          const i = ++n;
          const f = await createProjectFixture(db.prisma, people, `D${i}_${acc.slice(0, 3)}`, acc);
          if (allow) await db.prisma.project.update({ where: { id: f.projectId }, data: { allowCollaboratorDownload: true } });
          const headers: Record<string, string> = cookies[actor] ? { cookie: cookies[actor]! } : {};
          const before = await db.prisma.auditEvent.count({ where: { projectId: f.projectId, action: "archive.download" } });
          const g = await fetch(`${server.url}/api/projects/${f.projectId}/download?experiment=${f.archiveExperimentId}`, { headers });
          const p = await fetch(`${server.url}/api/projects/${f.projectId}/download`, {
            method: "POST",
            headers: { ...headers, "content-type": "application/json" },
            body: JSON.stringify({ experiments: [f.archiveExperimentId] }),
          });
          for (const r of [g, p]) {
            expect(r.status).toBe(want);
            if (want === 200) expect(r.headers.get("content-type")).toBe("application/zip");
            else expect(((await r.json()) as { error: string }).error.length).toBeGreaterThan(10);
            if (want === 200) await r.arrayBuffer();
          }
          const after = await db.prisma.auditEvent.count({ where: { projectId: f.projectId, action: "archive.download" } });
          expect(after - before, "every download is audited, a refusal is not a download").toBe(want === 200 ? 2 : 0);
        });
      }
    }
  }
});

// ---- Every HTTP route of the app -----------------------------------------------------------------
// Every `app/**/route.ts` and each method it exports needs a row here, saying who may call it and
// how that is checked: a probe (the route called with no credentials must answer `status` and change
// nothing: no row in any table, no queued job, no staged file) and/or the block or file that tests
// it for every caller. A route without a row fails the first test, naming the route.
describe("every HTTP route (app/**/route.ts)", () => {
  type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";
  interface RouteRow {
    /** Who may call it, in words. */
    who: string;
    /** A call without any credentials: the status it must get (and it must change nothing). */
    anonymous?: { status: number; path: (f: ProjectFixture) => string; params: (f: ProjectFixture) => Record<string, unknown>; body?: string };
    /** Where every caller is tested (another block of this file, or a test file). */
    coveredBy?: string;
  }
  const inProject = (f: ProjectFixture) => ({ projectId: f.projectId });
  const ROUTES: Record<string, RouteRow> = {
    "GET app/api/auth/[...nextauth]/route.ts": { who: "anyone: next-auth's sign-in, callback and sign-out endpoints", coveredBy: "tests/e2e/sso.test.ts, tests/e2e/identity.test.ts" },
    "POST app/api/auth/[...nextauth]/route.ts": { who: "anyone: next-auth's sign-in, callback and sign-out endpoints", coveredBy: "tests/e2e/sso.test.ts, tests/e2e/identity.test.ts" },
    "POST app/api/dev-signin/route.ts": { who: "anyone on the loopback interface, only without SSO and outside production", coveredBy: "tests/e2e/identity.test.ts, tests/e2e/sso.test.ts" },
    "GET app/pim/api/info/route.ts": { who: "anyone: fastr's reporter asks for the API version before it reports (no data)", coveredBy: "tests/pim/pim-api.test.ts" },
    "POST app/pim/api/runs/route.ts": {
      who: "a project API token with the report scope (Bearer or Basic password); it decides the project",
      anonymous: { status: 401, path: () => "/pim/api/runs/", params: () => ({}), body: "{}" },
      coveredBy: "tests/pim/pim-api.test.ts",
    },
    "PUT app/pim/api/runs/[runId]/jobs/route.ts": {
      who: "a project API token with the report scope (Bearer or Basic password); only its project's runs",
      anonymous: { status: 401, path: () => "/pim/api/runs/fixture_run/jobs", params: () => ({ runId: "fixture_run" }), body: "[]" },
      coveredBy: "tests/pim/pim-api.test.ts",
    },
    "GET app/api/health/route.ts": { who: "anyone (load balancers): status only, no raw errors", coveredBy: "tests/auth/hardening.test.ts" },
    "GET app/metrics/route.ts": {
      who: "a bearer ATRIUM_METRICS_TOKEN or a site admin's session",
      anonymous: { status: 401, path: () => "/metrics", params: () => ({}) },
      coveredBy: "tests/auth/hardening.test.ts",
    },
    "GET app/api/trpc/[trpc]/route.ts": { who: "per procedure", coveredBy: "the procedure rows of this file" },
    "POST app/api/trpc/[trpc]/route.ts": { who: "per procedure", coveredBy: "the procedure rows of this file" },
    "POST app/api/internal/seed-demo/route.ts": {
      who: "the operator token from the data directory",
      anonymous: { status: 401, path: () => "/api/internal/seed-demo", params: () => ({}), body: "{}" },
    },
    "POST app/api/internal/tokens/route.ts": {
      who: "the operator token from the data directory",
      anonymous: { status: 401, path: () => "/api/internal/tokens", params: () => ({}), body: "{}" },
      coveredBy: "tests/pim/token-cli.test.ts",
    },
    "GET app/api/internal/runs/route.ts": {
      who: "the operator token from the data directory",
      anonymous: { status: 401, path: () => "/api/internal/runs", params: () => ({}) },
      coveredBy: "tests/pim/token-cli.test.ts, tests/pipelines/cli-run.test.ts",
    },
    "POST app/api/internal/pipeline-runs/route.ts": {
      who: "the operator token from the data directory (atrium run)",
      anonymous: { status: 401, path: () => "/api/internal/pipeline-runs", params: () => ({}), body: "{}" },
      coveredBy: "tests/pipelines/cli-run.test.ts",
    },
    "GET app/api/internal/pipeline-runs/route.ts": {
      who: "the operator token from the data directory (atrium runs)",
      anonymous: { status: 401, path: (f) => `/api/internal/pipeline-runs?project=${f.projectId}`, params: () => ({}) },
      coveredBy: "tests/pipelines/cli-run.test.ts",
    },
    "GET app/api/internal/pipeline-runs/[runId]/route.ts": {
      who: "the operator token from the data directory (atrium run --wait)",
      anonymous: { status: 401, path: (f) => `/api/internal/pipeline-runs/${f.failedRunId}?project=${f.projectId}`, params: (f) => ({ runId: f.failedRunId }) },
      coveredBy: "tests/pipelines/cli-run.test.ts",
    },
    "GET app/api/internal/status/route.ts": {
      who: "the operator token from the data directory",
      anonymous: { status: 401, path: (f) => `/api/internal/status?project=${f.projectId}`, params: () => ({}) },
    },
    "GET app/api/internal/governor/route.ts": {
      who: "the operator token from the data directory (atrium experiments)",
      anonymous: { status: 401, path: (f) => `/api/internal/governor?project=${f.projectId}`, params: () => ({}) },
      coveredBy: "tests/governor/cli.test.ts",
    },
    "POST app/api/internal/governor/route.ts": {
      who: "the operator token from the data directory (atrium workflow import)",
      anonymous: { status: 401, path: () => "/api/internal/governor", params: () => ({}), body: "{}" },
      coveredBy: "tests/governor/cli.test.ts",
    },
    "POST app/api/webhooks/[sourceId]/route.ts": {
      who: "a request signed with the source's secret",
      anonymous: { status: 401, path: (f) => `/api/webhooks/${f.webhookSourceId}`, params: (f) => ({ sourceId: f.webhookSourceId }), body: '{"study":"1.2.3"}' },
      coveredBy: "tests/webhooks/",
    },
    "GET app/api/projects/[projectId]/download/route.ts": {
      who: "members and owners; collaborators when the project allows; a read token",
      anonymous: { status: 401, path: (f) => `/api/projects/${f.projectId}/download?experiment=${f.archiveExperimentId}`, params: inProject },
      coveredBy: 'the block "HTTP: download from the archive" of this file',
    },
    "POST app/api/projects/[projectId]/download/route.ts": {
      who: "members and owners; collaborators when the project allows; a read token",
      anonymous: { status: 401, path: (f) => `/api/projects/${f.projectId}/download`, params: inProject, body: "{}" },
      coveredBy: 'the block "HTTP: download from the archive" of this file',
    },
    "POST app/api/projects/[projectId]/upload/route.ts": {
      who: "members and owners",
      anonymous: { status: 401, path: (f) => `/api/projects/${f.projectId}/upload?batch=6f1c2a4e-0b7d-4c1e-9a53-2d8e7f4b1c90`, params: inProject, body: "x" },
      coveredBy: "tests/intake/upload.test.ts",
    },
    "GET app/api/projects/[projectId]/pixel-review/[instanceId]/image/route.ts": {
      who: "owners (site admins are owners); every view audited",
      anonymous: { status: 401, path: (f) => `/api/projects/${f.projectId}/pixel-review/${f.heldId}/image`, params: (f) => ({ projectId: f.projectId, instanceId: f.heldId }) },
      coveredBy: 'the block "HTTP: held image of the pixel review" of this file',
    },
    "GET app/api/v1/openapi.json/route.ts": { who: "anyone: the task API's description, no data", coveredBy: "tests/tasks/rest-api.test.ts" },
    ...Object.fromEntries(
      (["GET", "POST", "PUT", "DELETE"] as const).map((m) => [
        `${m} app/taskmanager/api/v1/[...path]/route.ts`,
        {
          who: "TaskManager API v1: a personal token (Basic password or Bearer); members read and work on their projects' tasks, owners create and delete tasks, groups and templates",
          anonymous: { status: 401, path: () => "/taskmanager/api/v1/tasks", params: () => ({ path: ["tasks"] }), ...(m === "GET" || m === "DELETE" ? {} : { body: "{}" }) },
          coveredBy: "tests/tasks/taskmanager.test.ts",
        },
      ]),
    ),
    "GET app/api/projects/[projectId]/resources/[resourceId]/files/[name]/route.ts": {
      who: "members and owners; collaborators when the project allows; a read token (the download rule)",
      anonymous: { status: 401, path: (f) => `/api/projects/${f.projectId}/resources/none/files/mask.nii.gz`, params: (f) => ({ projectId: f.projectId, resourceId: "none", name: "mask.nii.gz" }) },
      coveredBy: "tests/tasks/overlays.test.ts",
    },
    "GET app/api/projects/[projectId]/jobs/[jobId]/log/route.ts": {
      who: "collaborators and up of the job's project (as the run page)",
      anonymous: { status: 401, path: (f) => `/api/projects/${f.projectId}/jobs/${f.pipelineJobId}/log`, params: (f) => ({ projectId: f.projectId, jobId: f.pipelineJobId }) },
      coveredBy: "tests/pipelines/job-log.test.ts",
    },
    "GET app/api/v1/tasks/route.ts": {
      who: "the signed-in user or a personal token: their own tasks",
      anonymous: { status: 401, path: () => "/api/v1/tasks?mine=1", params: () => ({}) },
      coveredBy: "tests/tasks/rest-api.test.ts",
    },
    "GET app/api/v1/tasks/[id]/route.ts": {
      who: "members and owners of the task's project (a session or a personal token); readers see only their own drafts",
      anonymous: { status: 401, path: (f) => `/api/v1/tasks/${f.taskId}`, params: (f) => ({ id: f.taskId }) },
      coveredBy: "tests/tasks/rest-api.test.ts",
    },
    "PUT app/api/v1/tasks/[id]/draft/route.ts": {
      who: "members and owners of the task's project who may take its lock",
      anonymous: { status: 401, path: (f) => `/api/v1/tasks/${f.taskId}/draft`, params: (f) => ({ id: f.taskId }), body: '{"answers":{"usable":"yes"}}' },
      coveredBy: "tests/tasks/rest-api.test.ts",
    },
    "POST app/api/v1/tasks/[id]/submit/route.ts": {
      who: "members and owners of the task's project who may take its lock",
      anonymous: { status: 401, path: (f) => `/api/v1/tasks/${f.taskId}/submit`, params: (f) => ({ id: f.taskId }), body: '{"answers":{"usable":"yes"}}' },
      coveredBy: "tests/tasks/rest-api.test.ts",
    },
    "POST app/api/v1/tasks/[id]/release/route.ts": {
      who: "the reader holding the lock, or an owner",
      anonymous: { status: 401, path: (f) => `/api/v1/tasks/${f.lockedTaskId}/release`, params: (f) => ({ id: f.lockedTaskId }), body: "{}" },
      coveredBy: "tests/tasks/rest-api.test.ts",
    },
    "POST app/api/v1/tasks/[id]/skip/route.ts": {
      who: "members and owners of the task's project who may take its lock",
      anonymous: { status: 401, path: (f) => `/api/v1/tasks/${f.taskId}/skip`, params: (f) => ({ id: f.taskId }), body: '{"reason":"x"}' },
      coveredBy: "tests/tasks/rest-api.test.ts",
    },
    "POST app/api/v1/projects/[projectId]/tasks/next/route.ts": {
      who: "members and owners (readers of the group's pool)",
      anonymous: { status: 401, path: (f) => `/api/v1/projects/${f.projectId}/tasks/next`, params: inProject, body: "{}" },
      coveredBy: "tests/tasks/rest-api.test.ts",
    },
    "POST app/api/v1/projects/[projectId]/task-groups/route.ts": {
      who: "owners",
      anonymous: { status: 401, path: (f) => `/api/v1/projects/${f.projectId}/task-groups`, params: inProject, body: '{"label":"G","template":"qc"}' },
      coveredBy: "tests/tasks/rest-api.test.ts",
    },
    "POST app/dicomweb/studies/route.ts": {
      who: "a project token with the stow scope",
      anonymous: { status: 401, path: () => "/dicomweb/studies", params: () => ({}), body: "x" },
      coveredBy: "tests/dicomweb/",
    },
    "POST app/dicomweb/studies/[study]/route.ts": {
      who: "a project token with the stow scope",
      anonymous: { status: 401, path: () => "/dicomweb/studies/1.2.3", params: () => ({ study: "1.2.3" }), body: "x" },
      coveredBy: "tests/dicomweb/",
    },
  };
  // Study Governor API v2 (issue #16): project tokens ("workflow" scope writes, "read" or "workflow"
  // reads), sessions by project level; callback executions also by their own secret.
  for (const [file, methods, p] of [
    ["experiments/route.ts", ["GET"], () => "/api/v2/experiments"],
    ["experiments/[id]/route.ts", ["GET"], (f: ProjectFixture) => `/api/v2/experiments/${f.archiveExperimentId}`],
    ["experiments/[id]/state/route.ts", ["GET", "PUT"], (f: ProjectFixture) => `/api/v2/experiments/${f.archiveExperimentId}/state`],
    ["experiments/[id]/actions/route.ts", ["GET"], (f: ProjectFixture) => `/api/v2/experiments/${f.archiveExperimentId}/actions`],
    ["states/[id]/route.ts", ["GET"], () => "/api/v2/states/wf.0"],
    ["transitions/[id]/route.ts", ["GET"], () => "/api/v2/transitions/wf.0.0"],
    ["callback_executions/[id]/route.ts", ["GET", "PUT"], () => "/api/v2/callback_executions/x1"],
  ] as const) {
    for (const m of methods) {
      ROUTES[`${m} app/api/v2/${file}`] = {
        who: file.startsWith("callback_executions")
          ? "the execution's secret (403 when wrong), or collaborators/read tokens to read and members/workflow tokens to resolve"
          : m === "PUT"
            ? "members and owners; a workflow token"
            : "collaborators and above; a read or workflow token",
        anonymous: {
          status: 401,
          path: p,
          params: (f) => ({ id: file.startsWith("experiments/[id]") ? f.archiveExperimentId : file.startsWith("states") ? "wf.0" : file.startsWith("transitions") ? "wf.0.0" : "x1" }),
          ...(m === "PUT" ? { body: "{}" } : {}),
        },
        coveredBy: "tests/governor/api-v2.test.ts",
      };
    }
  }
  // DICOMweb of a project: every caller × accessibility in the block "DICOMweb routes (HTTP)" above.
  for (const [file, methods] of [
    ["studies/route.ts", ["GET", "POST"]],
    ["studies/[...path]/route.ts", ["GET"]],
    ["series/route.ts", ["GET"]],
    ["instances/route.ts", ["GET"]],
  ] as const) {
    for (const m of methods) {
      ROUTES[`${m} app/dicomweb/projects/[projectId]/${file}`] = {
        who: "collaborators and read tokens read; members and stow tokens store",
        anonymous: { status: 401, path: (f) => `/dicomweb/projects/${f.projectId}/${file.includes("...path") ? "studies/1.2.3" : file.replace("/route.ts", "")}`, params: (f) => ({ projectId: f.projectId, ...(file.includes("...path") ? { path: ["1.2.3"] } : {}) }), ...(m === "POST" ? { body: "x" } : {}) },
        coveredBy: 'the block "DICOMweb routes (HTTP)" of this file',
      };
    }
  }

  /** Every exported HTTP method of every app/**\/route.ts, as "METHOD app/…/route.ts". */
  function appRoutes(): string[] {
    const fs = require("node:fs") as typeof import("node:fs");
    const path = require("node:path") as typeof import("node:path");
    const found = new Set<string>();
    const METHOD = "GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS";
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/^route\.(ts|tsx|js|mjs)$/.test(e.name)) {
          const src = fs.readFileSync(p, "utf8");
          const rel = p.split(path.sep).join("/");
          const methods = new Set<string>();
          for (const m of src.matchAll(new RegExp(`export\\s+(?:async\\s+)?(?:function\\s*\\*?|const|let|var)\\s+(${METHOD})\\b`, "g"))) methods.add(m[1]!);
          for (const m of src.matchAll(/export\s*\{([^}]*)\}/g)) {
            for (const spec of m[1]!.split(",")) {
              const name = spec.trim().split(/\s+as\s+/).pop()!.trim();
              if (new RegExp(`^(${METHOD})$`).test(name)) methods.add(name);
            }
          }
          if (methods.size === 0) found.add(`(no HTTP method found) ${rel}`);
          for (const m of methods) found.add(`${m} ${rel}`);
        }
      }
    };
    walk("app");
    return [...found].sort();
  }

  it("every route file under app/ and each method it exports has a row, and every row names one", () => {
    const routes = appRoutes();
    const missing = routes.filter((r) => !(r in ROUTES));
    const stale = Object.keys(ROUTES).filter((r) => !routes.includes(r));
    expect(
      missing,
      `HTTP routes without a row in ROUTES of tests/access/matrix.test.ts (add one saying who may call it, with an anonymous probe and/or where every caller is tested): ${missing.join("; ")}`,
    ).toEqual([]);
    expect(stale, `rows of ROUTES in tests/access/matrix.test.ts that name no exported route method: ${stale.join("; ")}`).toEqual([]);
    for (const [k, row] of Object.entries(ROUTES)) expect(row.anonymous ?? row.coveredBy, `${k}: a row needs a probe or a coveredBy`).toBeTruthy();
  });

  describe("a caller without credentials is refused and changes nothing", () => {
    let fixture: ProjectFixture;
    let dataDir: string;
    let previousDataDir: string | undefined;
    beforeAll(async () => {
      const os = await import("node:os");
      const fs = await import("node:fs");
      const path = await import("node:path");
      const { setDbHandle } = await import("@/server/db");
      previousDataDir = process.env.ATRIUM_DATA_DIR;
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-matrix-routes-"));
      process.env.ATRIUM_DATA_DIR = dataDir;
      setDbHandle(Promise.resolve(db.handle));
      fixture = await createProjectFixture(db.prisma, people, "ROUTES_PRIV", "private");
    });
    afterAll(async () => {
      const fs = await import("node:fs");
      (await import("@/server/db")).setDbHandle(undefined);
      if (previousDataDir === undefined) delete process.env.ATRIUM_DATA_DIR;
      else process.env.ATRIUM_DATA_DIR = previousDataDir;
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    for (const [key, row] of Object.entries(ROUTES)) {
      const probe = row.anonymous;
      if (!probe) continue;
      it(`${key}: ${probe.status}`, async () => {
        const path = await import("node:path");
        const [method, file] = key.split(" ") as [Method, string];
        const mod = (await import(/* @vite-ignore */ path.resolve(file))) as Record<string, (req: Request, ctx: { params: Promise<Record<string, unknown>> }) => Promise<Response>>;
        const req = new Request(`http://atrium.test${probe.path(fixture)}`, {
          method,
          headers: probe.body === undefined ? {} : { "content-type": "application/json" },
          ...(probe.body === undefined ? {} : { body: probe.body }),
        });
        const before = await snapshot(db.prisma);
        const res = await mod[method]!(req, { params: Promise.resolve(probe.params(fixture)) });
        const text = await res.text();
        expect(res.status, `${key} without credentials answered: ${text.slice(0, 200)}`).toBe(probe.status);
        expect((JSON.parse(text) as { error: string }).error.length, "a refusal says why").toBeGreaterThan(10);
        expect(await snapshot(db.prisma), "a refused call changes nothing").toEqual(before);
      });
    }
  });
});

// The image of an instance held for a pixel review may show identifying text: owners only (site
// admins are owners), and every view is audited; a refusal changes nothing.
describe("HTTP: held image of the pixel review (GET /api/projects/{id}/pixel-review/{instanceId}/image)", () => {
  let server: import("../helpers/route-server").RouteServer;
  let dataDir: string;
  let previousDataDir: string | undefined;
  const cookies = {} as Record<Actor, string | null>;
  beforeAll(async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { setDbHandle } = await import("@/server/db");
    const { createSession, SESSION_COOKIE } = await import("@/server/auth/session");
    const { startRouteServer } = await import("../helpers/route-server");
    previousDataDir = process.env.ATRIUM_DATA_DIR;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-matrix-pixels-"));
    process.env.ATRIUM_DATA_DIR = dataDir;
    setDbHandle(Promise.resolve(db.handle));
    for (const a of actors) cookies[a] = a === "anonymous" ? null : `${SESSION_COOKIE}=${(await createSession(db.prisma, people.users[a].id)).token}`;
    const route = await import("@/app/api/projects/[projectId]/pixel-review/[instanceId]/image/route");
    server = await startRouteServer([
      {
        method: "GET",
        pattern: /^\/api\/projects\/(?<projectId>[^/]+)\/pixel-review\/(?<instanceId>[^/]+)\/image$/,
        handler: (req, ctx) => route.GET(req, ctx as { params: Promise<{ projectId: string; instanceId: string }> }),
      },
    ]);
  });
  afterAll(async () => {
    const fs = await import("node:fs");
    await server?.close();
    (await import("@/server/db")).setDbHandle(undefined);
    if (previousDataDir === undefined) delete process.env.ATRIUM_DATA_DIR;
    else process.env.ATRIUM_DATA_DIR = previousDataDir;
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function expectedStatus(actor: Actor, acc: Accessibility): number {
    if (actor === "anonymous") return 401;
    const level = LEVEL[actor][acc];
    if (level === "none") return 404;
    return level === "owner" ? 200 : 403;
  }

  for (const acc of ["private", "protected", "public"] as const) {
    for (const actor of actors) {
      const want = expectedStatus(actor, acc);
      it(`${actor} on a ${acc} project: ${want}`, async () => {
        const fs = await import("node:fs");
        const path = await import("node:path");
        const { SAMPLES_DIR } = await import("@/lib/samples");
        const i = ++n;
        const f = await createProjectFixture(db.prisma, people, `PX${i}_${acc.slice(0, 3)}`, acc);
        const held = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: f.heldId } });
        fs.mkdirSync(path.dirname(path.join(dataDir, held.outputPath!)), { recursive: true });
        fs.copyFileSync(path.join(SAMPLES_DIR, "pydicom-data__US1_UNCR.dcm"), path.join(dataDir, held.outputPath!));
        const before = await snapshot(db.prisma);
        const r = await fetch(`${server.url}/api/projects/${f.projectId}/pixel-review/${f.heldId}/image`, { headers: cookies[actor] ? { cookie: cookies[actor]! } : {} });
        expect(r.status).toBe(want);
        if (want === 200) {
          expect(r.headers.get("content-type")).toBe("image/png");
          expect(Buffer.from(await r.arrayBuffer()).subarray(1, 4).toString()).toBe("PNG");
          expect(await db.prisma.auditEvent.count({ where: { projectId: f.projectId, action: "pixels.view", targetId: f.heldId } })).toBe(1);
        } else {
          expect(((await r.json()) as { error: string }).error.length).toBeGreaterThan(10);
          expect(await snapshot(db.prisma), "a refused view changes nothing").toEqual(before);
        }
      });
    }
  }
});

describe("no procedure's error carries a database message (issue #21 §3)", () => {
  // Every procedure, called over HTTP (tRPC's fetch adapter, as the portal calls it) by a site
  // admin (who passes every access check) against a database whose tables are gone: each fails in
  // the database, and each answer must be readable, with no Postgres or Prisma text in it.
  it("every procedure of the matrix, on a database whose tables are gone", async () => {
    const { fetchRequestHandler } = await import("@trpc/server/adapters/fetch");
    const superjson = (await import("superjson")).default;
    const { looksLikeDatabaseMessage } = await import("@/lib/errors");
    const pg = (await import("pg")).default;
    const broken = await createTestDatabase();
    try {
      const brokenPeople = await createPeople(broken.prisma);
      const fixture = await createProjectFixture(broken.prisma, brokenPeople, "BROKEN", "private");
      const inputs = Object.fromEntries(Object.entries(MATRIX).map(([p, row]) => [p, row.input(fixture, brokenPeople, 90_000)]));
      const admin = new pg.Client({ connectionString: broken.url });
      await admin.connect();
      await admin.query("ALTER SCHEMA public RENAME TO sabotaged_schema");
      await admin.end();
      const leaks: string[] = [];
      let failed = 0;
      for (const path of Object.keys(MATRIX)) {
        const type = (appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)[path]!._def.type;
        const body = superjson.serialize(inputs[path]);
        const url = `http://atrium.test/api/trpc/${path}${type === "query" ? `?input=${encodeURIComponent(JSON.stringify(body))}` : ""}`;
        const req = new Request(url, type === "query" ? { method: "GET" } : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        const res = await fetchRequestHandler({ endpoint: "/api/trpc", req, router: appRouter, createContext: () => ({ prisma: broken.prisma, user: brokenPeople.sessions.siteAdmin }) });
        const text = await res.text();
        if (res.status >= 400) failed++;
        const leak = /sabotaged_schema|does not exist|"stack"/.exec(text);
        if (looksLikeDatabaseMessage(text) || leak) leaks.push(`${path} (${res.status}): …${text.slice(Math.max(0, (leak?.index ?? 0) - 150), (leak?.index ?? 0) + 150)}…`);
      }
      expect(leaks).toEqual([]);
      // Nearly every procedure needs the database (me.get, e.g., does not).
      expect(failed).toBeGreaterThan(Object.keys(MATRIX).length * 0.8);
    } finally {
      await broken.drop();
    }
  }, 120_000);
});
