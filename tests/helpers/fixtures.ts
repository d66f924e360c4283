// People and projects for API tests. Users reach the API the way the portal's do: through a
// database session resolved by sessionUserFromToken (so ATRIUM_ADMINS is honoured).
import fs from "node:fs";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import { createSession, sessionUserFromToken, type SessionUser } from "@/server/auth/session";
import { createCallerFactory } from "@/server/trpc/init";
import { appRouter } from "@/server/routers";
import { sealSecret } from "@/server/secrets";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { parseTemplateOrThrow } from "@/lib/tasks/parse";
import { importWorkflowYaml } from "@/lib/governor/workflow";

/** The workflow of every fixture project: the experiment waits in `check`, whose callback failed. */
export const FIXTURE_WORKFLOW = `label: fixture_flow
states:
  - {label: start, transitions: [{destination: check}]}
  - label: check
    callbacks: [{label: check, function: external_program, callback_arguments: {binary: fixture}}]
    transitions: [{destination: done, condition: "callbacks['check'].result == 'success'"}]
  - {label: done}
`;
import { pipelineSchema, toolSchema } from "@/lib/pipelines/schema";

export const ADMIN_EMAIL = "admin@atrium.test";
process.env.ATRIUM_QUEUE_PREFIX ??= `atrium-test-${process.pid}`;
process.env.ATRIUM_ADMINS = ADMIN_EMAIL;
// Stored secrets (webhook signing secrets) are sealed with this key in tests.
process.env.ATRIUM_SECRET_KEY ??= "atrium-test-secret-key-not-for-production";

export const actors = ["anonymous", "outsider", "collaborator", "member", "owner", "siteAdmin"] as const;
export type Actor = (typeof actors)[number];

export interface People {
  users: Record<Exclude<Actor, "anonymous"> | "target", { id: string; email: string }>;
  sessions: Record<Actor, SessionUser | null>;
}

export async function createPeople(prisma: PrismaClient, tag = ""): Promise<People> {
  const spec = {
    outsider: `outsider${tag}@atrium.test`,
    collaborator: `collaborator${tag}@atrium.test`,
    member: `member${tag}@atrium.test`,
    owner: `owner${tag}@atrium.test`,
    siteAdmin: tag ? `admin${tag}@atrium.test` : ADMIN_EMAIL,
    target: `target${tag}@atrium.test`,
  } as const;
  const users = {} as People["users"];
  for (const [key, email] of Object.entries(spec)) {
    const u = await prisma.user.create({ data: { email, name: key } });
    users[key as keyof typeof spec] = { id: u.id, email };
  }
  const sessions = { anonymous: null } as People["sessions"];
  for (const key of ["outsider", "collaborator", "member", "owner", "siteAdmin"] as const) {
    const { token } = await createSession(prisma, users[key].id);
    sessions[key] = await sessionUserFromToken(prisma, token);
  }
  return { users, sessions };
}

export interface ProjectFixture {
  projectId: string;
  invitationId: string;
  aeTitle: string;
  quarantinedId: string;
  /** An active API token of the project (its plaintext is not kept). */
  tokenId: string;
  webhookSourceId: string;
  /** An intake study whose archive failed (for archive.retry). */
  failedArchiveStudyId: string;
  /** An experiment of the project's local archive index (subject FIXSUBJ, no files). */
  archiveExperimentId: string;
  archiveScanId: string;
  /** A (disabled) routing rule of the project. */
  ruleId: string;
  /** A quarantined instance no project accepted (projectId null). */
  unroutedId: string;
  /** An instance held for a pixel review (no file: released without regions, or deleted). */
  heldId: string;
  /** A pixel rule of the project. */
  pixelRuleId: string;
  /** A forward destination (disabled C-STORE node) and a failed forward of the failed-archive study to it. */
  forwardDestinationId: string;
  failedForwardId: string;
  /** Tasks: the demo QC template, a pool group over the fixture experiment, a free task and one locked by `target`. */
  taskTemplateId: string;
  taskGroupId: string;
  taskId: string;
  lockedTaskId: string;
  /** the outsider's pending access request */
  accessRequestId: string;
  /** a read waiting for review */
  submittedTaskId: string;
  /** A run reported through the PIM API (one node, one finished job). */
  reportedRunId: string;
  reportedJobPath: string;
  /** Governor: FIXTURE_WORKFLOW v1 (the experiment's, with its failed callback in state `check`) and v2, the active one. */
  governorWorkflowId: string;
  governorExecutionId: string;
  /** Pipelines: a project tool and pipeline (row id), a failed run with a failed job, a running run with a running job. */
  pipelineRowId: string;
  failedRunId: string;
  runningRunId: string;
  pipelineJobId: string;
}

/** A project with an owner, a member, a collaborator, a removable member (target) and a pending invitation. */
export async function createProjectFixture(
  prisma: PrismaClient,
  people: People,
  projectId: string,
  accessibility: "private" | "protected" | "public",
): Promise<ProjectFixture> {
  const { users } = people;
  await prisma.project.create({
    data: {
      id: projectId,
      idLower: projectId.toLowerCase(),
      name: `Project ${projectId}`,
      accessibility,
      members: {
        create: [
          { userId: users.owner.id, role: "owner" },
          { userId: users.member.id, role: "member" },
          { userId: users.collaborator.id, role: "collaborator" },
          { userId: users.target.id, role: "member" },
        ],
      },
    },
  });
  // A pending access request of the outsider (owners approve or decline it).
  const accessRequest = await prisma.accessRequest.create({ data: { projectId, userId: users.outsider.id, role: "member", message: "fixture" } });
  const inv = await prisma.projectInvitation.create({
    data: { projectId, email: `invitee-${projectId.toLowerCase()}@atrium.test`, role: "member", invitedById: users.owner.id },
  });
  const aeTitle = projectId.toUpperCase().slice(0, 16);
  await prisma.aeRoute.create({ data: { aeTitle, projectId, allowedCallingAes: [], allowedAddresses: [] } });
  const q = await prisma.receivedInstance.create({
    data: {
      projectId,
      channel: "cstore",
      batchId: "fixture",
      stagingPath: `staging/fixture/${projectId}.dcm`,
      sizeBytes: 3,
      sha256: "0".repeat(64),
      status: "quarantined",
      reason: "Not DICOM (fixture).",
    },
  });
  const tok = await prisma.projectApiToken.create({
    data: { projectId, name: "fixture token", prefix: "atr_fixture0", tokenHash: `fixture-${projectId}`, scopes: ["stow"], createdById: users.owner.id },
  });
  const wh = await prisma.webhookSource.create({
    data: { id: `wh_${projectId}`, projectId, name: "Fixture PACS", secretSealed: sealSecret("fixture-secret", { table: "WebhookSource", id: `wh_${projectId}`, field: "secretSealed" }), nodeKind: "orthanc", nodeUrl: "http://127.0.0.1:9" },
  });
  const study = await prisma.intakeStudy.create({
    data: {
      projectId,
      studyInstanceUid: "1.2.826.0.1.3680043.10.1",
      subjectLabel: "SUBJ-0001",
      status: "failed",
      archive: { create: { projectId, state: "failed", attempts: 10, lastError: "Fixture: XNAT refused the login." } },
    },
  });
  const subj = await prisma.archiveSubject.create({ data: { projectId, label: "FIXSUBJ" } });
  const exp = await prisma.archiveExperiment.create({
    data: { projectId, subjectId: subj.id, label: `FIXSUBJ_${projectId}`, studyInstanceUid: `2.25.${projectId.length}${Date.now()}` },
  });
  // A scan (no instances) for the procedures that name one (browse.scanView).
  const scan = await prisma.archiveScan.create({ data: { experimentId: exp.id, seriesInstanceUid: `${exp.studyInstanceUid}.1`, seriesNumber: 1, modality: "MR" } });
  // Disabled, so that it changes no routing decision of the tests that use this fixture.
  const rule = await prisma.routingRule.create({ data: { projectId, position: 0, expression: 'Modality == "MR"', enabled: false, createdById: users.owner.id } });
  const unrouted = await prisma.receivedInstance.create({
    data: {
      projectId: null,
      channel: "cstore",
      batchId: "fixture",
      calledAe: "ATRIUM",
      stagingPath: `staging/fixture/unrouted-${projectId}.dcm`,
      sizeBytes: 3,
      sha256: "0".repeat(64),
      status: "quarantined",
      reason: "No project accepts this (fixture).",
      reasonCode: "no_route",
    },
  });
  const held = await prisma.receivedInstance.create({
    data: {
      projectId,
      channel: "cstore",
      batchId: "fixture",
      stagingPath: `staging/fixture/held-${projectId}.dcm`,
      outputPath: `projects/${projectId}/instances/1.2.3/1.2.3.4/1.2.3.4.5.dcm`,
      sizeBytes: 3,
      sha256: "0".repeat(64),
      status: "review",
      reason: "Possible burned-in text (fixture).",
      reasonCode: "burned_in_annotation",
    },
  });
  await prisma.pixelReview.create({
    data: { instanceId: held.id, projectId, studyInstanceUid: "1.2.3", subjectLabel: "FIXSUBJ", reasonCode: "burned_in_annotation", reason: "Possible burned-in text (fixture).", modality: "US", rows: 480, columns: 640 },
  });
  const pixelRule = await prisma.pixelRule.create({ data: { projectId, position: 0, signature: 'Modality.equals("US")', regions: [{ x: 0, y: 0, w: 640, h: 40 }], createdById: users.owner.id } });
  const fwdDest = await prisma.forwardDestination.create({ data: { projectId, name: "Fixture PACS", kind: "dicom", enabled: false, host: "127.0.0.1", port: 9, calledAe: "FIXTURE", callingAe: "ATRIUM" } });
  const fwd = await prisma.studyForward.create({ data: { destinationId: fwdDest.id, studyId: study.id, projectId, state: "failed", attempts: 10, lastError: "Fixture: connection refused." } });
  const tpl = await prisma.taskTemplate.create({ data: { projectId, name: "fixture-qc", versions: { create: { version: 1, source: DEMO_QC_TEMPLATE, definition: parseTemplateOrThrow(DEMO_QC_TEMPLATE) as never } } }, include: { versions: true } });
  const group = await prisma.taskGroup.create({ data: { projectId, label: "Fixture QC", templateVersionId: tpl.versions[0]!.id } });
  const taskBase = { projectId, groupId: group.id, templateVersionId: tpl.versions[0]!.id, caseKey: exp.id, experimentId: exp.id };
  const freeTask = await prisma.task.create({ data: { ...taskBase, readerIndex: 0 } });
  const lockedTask = await prisma.task.create({ data: { ...taskBase, readerIndex: 1, state: "locked", readerId: users.target.id, lockExpiresAt: new Date(Date.now() + 3600_000) } });
  // A read submitted by the member, waiting for an owner's review.
  const submittedTask = await prisma.task.create({
    // Its own case: a reader holds one read of a case, and the member takes the free task of exp.id in the matrix.
    data: { ...taskBase, caseKey: `${exp.id}:reviewed`, readerIndex: 0, state: "submitted", readerId: users.member.id, submittedAt: new Date(), results: { create: { version: 1, authorId: users.member.id, answers: { usable: "no", reason: ["motion"] }, annotations: [] } } },
  });
  const reported = await prisma.reportedRun.create({
    data: {
      projectId,
      runName: "fixture_run",
      network: "fixture",
      graph: { nodes: [{ path: "root/n", name: "n", title: "n", type: "NodeRun", parent: null, inPorts: [], outPorts: [] }], links: [] },
      statusTitles: ["idle", "running", "success", "failed", "cancelled", "undefined"],
      customData: {},
      jobs: { create: { path: "root/n/fixture___n___s1", nodePath: "root/n", status: 2, customData: { sample_id: ["s1"] }, log: {} } },
    },
  });
  // The experiment runs on version 1; version 2 (the same file) is the active one, so it can be migrated.
  const gwf = await prisma.governorWorkflow.create({ data: { projectId, label: "fixture_flow", version: 1, definition: importWorkflowYaml(FIXTURE_WORKFLOW).workflow as never, sourceFormat: "v8", active: false } });
  await prisma.governorWorkflow.create({ data: { projectId, label: "fixture_flow", version: 2, definition: importWorkflowYaml(FIXTURE_WORKFLOW).workflow as never, sourceFormat: "v8", active: true } });
  const gexp = await prisma.governorExperiment.create({
    data: {
      projectId,
      experimentId: exp.id,
      workflowId: gwf.id,
      state: "check",
      revision: 2,
      waitingFor: "no transition's condition holds (→ done)",
      actions: {
        create: [
          { revision: 1, toState: "start", cause: "fixture", success: true, endTime: new Date() },
          { revision: 2, fromState: "start", toState: "check", cause: "auto", success: true, endTime: new Date(), executions: { create: { callback: "check", function: "external_program", status: "finished", result: "failed", secretHash: "0".repeat(64), runLog: "fixture: exit 1", finished: new Date() } } },
        ],
      },
    },
  });
  const gexec = await prisma.governorCallbackExecution.findFirstOrThrow({ where: { action: { govExperimentId: gexp.id } } });
  const toolDef = toolSchema.parse({ kind: "tool", id: "fixture-echo", version: "1", command: ["echo", "{dicom}"], inputs: [{ id: "dicom", type: "dicom-series" }] });
  await prisma.pipelineTool.create({ data: { scope: projectId, projectId, toolId: toolDef.id, version: toolDef.version, definition: toolDef as object, sourceText: "fixture" } });
  const pipeDef = pipelineSchema.parse({ kind: "pipeline", id: "fixture", version: "1", sources: { series: { from: "scans" } }, nodes: { echo: { tool: "fixture-echo", in: { dicom: "series" } } } });
  const pipe = await prisma.pipeline.create({ data: { scope: projectId, projectId, pipelineId: pipeDef.id, version: pipeDef.version, definition: pipeDef as object, sourceText: "fixture", toolVersions: { echo: "1" } } });
  const runBase = { projectId, pipelineRowId: pipe.id, pipelineId: "fixture", pipelineVersion: "1", experimentIds: [exp.id], startedBy: "cli", executor: "local", workDir: `/nonexistent/fixture/${projectId}` };
  const jobBase = { key: "echo:x", node: "echo", sample: "x", level: "scan", toolId: "fixture-echo", toolVersion: "1", executor: "local", workDir: "/nonexistent/fixture", logPath: "/nonexistent/fixture/log.txt", inputs: {} };
  const failedRun = await prisma.pipelineRun.create({ data: { ...runBase, state: "failed", error: "1 of 1 jobs did not succeed (fixture)", jobs: { create: { ...jobBase, state: "failed", reason: "Exited with code 1 (fixture)." } } }, include: { jobs: true } });
  const runningRun = await prisma.pipelineRun.create({ data: { ...runBase, state: "running", jobs: { create: { ...jobBase, state: "running", externalId: "999999999" } } } });
  return { archiveScanId: scan.id, reportedRunId: reported.id, reportedJobPath: "root/n/fixture___n___s1", governorWorkflowId: gwf.id, governorExecutionId: gexec.id, pipelineRowId: pipe.id, failedRunId: failedRun.id, runningRunId: runningRun.id, pipelineJobId: failedRun.jobs[0]!.id, forwardDestinationId: fwdDest.id, failedForwardId: fwd.id, taskTemplateId: tpl.id, taskGroupId: group.id, taskId: freeTask.id, lockedTaskId: lockedTask.id, submittedTaskId: submittedTask.id, heldId: held.id, pixelRuleId: pixelRule.id, projectId, invitationId: inv.id, accessRequestId: accessRequest.id, aeTitle, quarantinedId: q.id, tokenId: tok.id, webhookSourceId: wh.id, ruleId: rule.id, unroutedId: unrouted.id, failedArchiveStudyId: study.id, archiveExperimentId: exp.id };
}

const createCaller = createCallerFactory(appRouter);

export function callerFor(prisma: PrismaClient, user: SessionUser | null) {
  return createCaller({ prisma, user });
}

/**
 * Everything an API call could change, in a comparable form: every table of the database (the list
 * is read from PostgreSQL, so a table added later is covered without editing this), each as its row
 * count and a digest of every row (all columns but `ignoreColumns`) computed by PostgreSQL in one
 * statement — as strict as comparing the rows, without reading whole tables into the test (the
 * access matrix snapshots twice per test) — plus the length of every BullMQ queue (under this run's
 * prefix) and the files under the data directory's staging, quarantine and archive folders (path
 * and size). A mismatch names the table, queue or file that changed.
 */
export async function snapshot(prisma: PrismaClient, options: { ignoreColumns?: string[] } = {}) {
  const soft = tracked.get(prisma);
  if (soft && (options.ignoreColumns ?? []).every((c) => soft.includes(c))) {
    const rows = await prisma.$queryRawUnsafe<{ t: string; n: bigint }[]>(`SELECT t, n FROM "_atrium_changes" ORDER BY t`);
    const counted = options.ignoreColumns?.length ? rows.filter((r) => !r.t.endsWith(SOFT_BUCKET)) : rows;
    const changes = Object.fromEntries(counted.map((r) => [r.t, `${r.n} row changes`]));
    return JSON.stringify({ tables: changes, queues: await queueLengths(), files: dataFiles() }, null, 1);
  }
  const tables = (
    await prisma.$queryRawUnsafe<{ tablename: string }[]>(
      `SELECT tablename::text AS tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT IN ('_prisma_migrations', '_atrium_changes') ORDER BY tablename`,
    )
  ).map((t) => t.tablename);
  const sql = tables
    .map((t) => {
      const name = t.replace(/'/g, "''");
      return `SELECT '${name}' AS t, count(*) AS n, md5(string_agg(j, E'\\n' ORDER BY j)) AS digest FROM (SELECT (to_jsonb(x) - $1::text[])::text AS j FROM "${t.replace(/"/g, '""')}" x) s`;
    })
    .join("\nUNION ALL\n");
  const rows = await prisma.$queryRawUnsafe<{ t: string; n: bigint; digest: string | null }[]>(sql, options.ignoreColumns ?? []);
  const digests = Object.fromEntries(rows.sort((a, b) => a.t.localeCompare(b.t)).map((r) => [r.t, `${r.n} rows${r.digest ? `, ${r.digest}` : ""}`]));
  return JSON.stringify({ tables: digests, queues: await queueLengths(), files: dataFiles() }, null, 1);
}

/** Databases whose changes are counted by trackChanges, with the columns it may ignore. */
const tracked = new WeakMap<PrismaClient, string[]>();
const SOFT_BUCKET = " (soft columns only)";

/**
 * Makes snapshot() cheap on a database that grows (the access matrix adds a project per test, so
 * digesting every row twice per test grew with the square of the tests): a row trigger on every
 * table counts inserted, updated and deleted rows per table, in the same transaction as the change
 * (a rolled-back change counts nothing). Stricter than the digest in one way: an update that writes
 * the same values counts as a change. An update that changes only `softColumns` (a token's
 * lastUsedAt) is counted apart, so snapshot({ignoreColumns}) can leave it out without digesting
 * every row; other ignoreColumns still digest the rows.
 */
export async function trackChanges(prisma: PrismaClient, softColumns: string[] = ["lastUsedAt"]): Promise<void> {
  await prisma.$executeRawUnsafe(`CREATE TABLE IF NOT EXISTS "_atrium_changes" (t text PRIMARY KEY, n bigint NOT NULL)`);
  const soft = `ARRAY[${softColumns.map((c) => `'${c.replace(/'/g, "''")}'`).join(", ")}]::text[]`;
  await prisma.$executeRawUnsafe(`CREATE OR REPLACE FUNCTION "_atrium_count_change"() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE bucket text := TG_TABLE_NAME;
    BEGIN
      IF TG_OP = 'UPDATE' THEN
        IF (to_jsonb(NEW) - ${soft}) = (to_jsonb(OLD) - ${soft}) THEN
          bucket := TG_TABLE_NAME || '${SOFT_BUCKET}';
        END IF;
      END IF;
      INSERT INTO "_atrium_changes" (t, n) VALUES (bucket, 1) ON CONFLICT (t) DO UPDATE SET n = "_atrium_changes".n + 1;
      RETURN NULL;
    END $$`);
  const tables = await prisma.$queryRawUnsafe<{ tablename: string }[]>(
    `SELECT tablename::text AS tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT IN ('_prisma_migrations', '_atrium_changes')`,
  );
  for (const { tablename } of tables) {
    const t = tablename.replace(/"/g, '""');
    await prisma.$executeRawUnsafe(`CREATE OR REPLACE TRIGGER "_atrium_count_change" AFTER INSERT OR UPDATE OR DELETE ON "${t}" FOR EACH ROW EXECUTE FUNCTION "_atrium_count_change"()`);
    await prisma.$executeRawUnsafe(`CREATE OR REPLACE TRIGGER "_atrium_count_truncate" AFTER TRUNCATE ON "${t}" FOR EACH STATEMENT EXECUTE FUNCTION "_atrium_count_change"()`);
  }
  tracked.set(prisma, softColumns);
}

/** Jobs per state of every queue of lib/queue, read from Redis under ATRIUM_QUEUE_PREFIX. */
async function queueLengths(): Promise<Record<string, number[]>> {
  const { queueNames } = await import("@/lib/queue");
  const { readEnv } = await import("@/lib/config");
  const { Redis } = await import("ioredis");
  const env = readEnv();
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    const out: Record<string, number[]> = {};
    for (const q of queueNames) {
      const k = (s: string) => `${env.ATRIUM_QUEUE_PREFIX}:${q}:${s}`;
      out[q] = await Promise.all([
        ...["wait", "paused", "active"].map((s) => redis.llen(k(s))),
        ...["delayed", "prioritized", "waiting-children", "completed", "failed"].map((s) => redis.zcard(k(s))),
      ]);
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

/** Files (relative path and size) under the data directory's staging, quarantine and archive folders. */
function dataFiles(): string[] {
  const root = path.resolve(process.env.ATRIUM_DATA_DIR ?? "./.atrium");
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${path.relative(root, p)} ${fs.statSync(p, { throwIfNoEntry: false })?.size ?? "gone"}`);
    }
  };
  for (const sub of ["staging", "quarantine", "archive"]) walk(path.join(root, sub));
  return out.sort();
}
