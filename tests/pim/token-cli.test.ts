// `atrium token create`: an operator makes a "report" token for fastr, which then reports through /pim.
import { afterAll, beforeAll, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { ROOT } from "../helpers/atrium-process";
import { setDbHandle } from "@/server/db";
import { registration } from "./fastr-reporter";
import * as runs from "@/app/pim/api/runs/route";

const run = promisify(execFile);
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  await db.prisma.project.create({ data: { id: "TOK", idLower: "tok", name: "Token project" } });
});
afterAll(async () => {
  setDbHandle(undefined);
  await db?.drop();
});

const atrium = (args: string[]) =>
  run(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), ...args], { env: { ...process.env, DATABASE_URL: db.url } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

it("creates a report token that fastr's reporter can use, audited as an operator's", async () => {
  const r = await atrium(["token", "create", "--project", "TOK", "--scopes", "report", "--name", "fastr cluster", "--json"]);
  expect(r.code, r.stderr).toBe(0);
  const created = JSON.parse(r.stdout);
  expect(created).toMatchObject({ name: "fastr cluster", scopes: ["report"] });
  expect(created.token).toMatch(/^atr_/);
  const stored = await db.prisma.projectApiToken.findUniqueOrThrow({ where: { id: created.id } });
  expect(stored.tokenHash).not.toContain(created.token.slice(4));
  const audit = await db.prisma.auditEvent.findFirstOrThrow({ where: { action: "token.create", targetId: created.id } });
  expect(audit.actorId).toBeNull();
  expect(audit.after).toMatchObject({ via: "atrium token create", scopes: ["report"] });
  expect(JSON.stringify(audit.after)).not.toContain(created.token);
  const res = await runs.POST(
    new Request("http://atrium.test/pim/api/runs/", { method: "POST", headers: { authorization: `Basic ${Buffer.from(`fastr:${created.token}`).toString("base64")}` }, body: JSON.stringify(registration("cli_run")) }),
  );
  expect(res.status).toBe(201);
});

it("prints the bare token for scripts, and says what is wrong with bad options", async () => {
  const r = await atrium(["token", "create", "--project", "TOK", "--scopes", "stow,read"]);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toMatch(/^atr_\S+$/);
  expect(r.stderr).toMatch(/shown only now/);
  const badScope = await atrium(["token", "create", "--project", "TOK", "--scopes", "admin"]);
  expect(badScope.code).toBe(2);
  expect(badScope.stderr).toMatch(/--scopes: .*"report"/);
  const noProject = await atrium(["token", "create", "--project", "NOPE", "--scopes", "read"]);
  expect(noProject.code).toBe(2);
  expect(noProject.stderr).toMatch(/no project "NOPE"/);
  const noAction = await atrium(["token"]);
  expect(noAction.code).toBe(2);
  expect(noAction.stderr).toMatch(/Usage: atrium token create/);
});

it("atrium runs lists the reported run with its origin and state, for people and for scripts", async () => {
  const json = await atrium(["runs", "--project", "TOK", "--json"]);
  expect(json.code, json.stderr).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ project: "TOK", name: "cli_run", pipeline: "add", origin: "external", state: "registered", jobs: {} })]);
  const text = await atrium(["runs"]);
  expect(text.stdout).toMatch(/^ID\s+PROJECT\s+PIPELINE\s+ORIGIN\s+STATE/m);
  expect(text.stdout).toMatch(/TOK\s+add\s+external\s+registered\s+no jobs/);
  const missing = await atrium(["runs", "--project", "NOPE"]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/no project "NOPE"/);
});
