// Issue #16: the OpenAPI document describes every Study Governor v2 route Atrium serves, and the
// portal's "what to do" for a callback that did not succeed names the fix.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { executionHint } from "@/lib/governor/hints";

describe("the v2 OpenAPI document", () => {
  it("has a path with each method for every app/api/v2 route", () => {
    const doc = parse(fs.readFileSync("docs/openapi-studygovernor-v2.yaml", "utf8")) as { paths: Record<string, Record<string, unknown>> };
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === "route.ts") {
          const route = "/" + path.dirname(p).replace(/^app\//, "").replace(/\[(\w+)\]/g, "{$1}");
          for (const m of fs.readFileSync(p, "utf8").matchAll(/export async function (GET|PUT|POST|DELETE)/g)) found.push(`${m[1]!.toLowerCase()} ${route}`);
        }
      }
    };
    walk("app/api/v2");
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(found.sort()).toEqual(documented.sort());
  });
});

describe("what to do about a callback", () => {
  const base = { function: "external_program", status: "finished", result: "failed", runLog: "", resultLog: "" };
  it("names the fix for each kind of failure", () => {
    expect(executionHint({ ...base, runLog: "program 'x' is not registered; …" })).toMatch(/ATRIUM_GOVERNOR_PROGRAMS/);
    expect(executionHint({ ...base, function: "fastr", runLog: "pipelines are not available in this build" })).toMatch(/no adapter.*Force/);
    expect(executionHint({ ...base, function: "send_mail", runLog: "mail is not configured (set …)" })).toMatch(/ATRIUM_SMTP_HOST/);
    expect(executionHint({ ...base, result: "timeout", resultLog: "[atrium] wait_timeout reached" })).toMatch(/reported back within wait_timeout/);
    expect(executionHint({ ...base, result: "timeout", runLog: "[atrium] run_timeout reached" })).toMatch(/run_timeout/);
    expect(executionHint({ ...base, runLog: "boom" })).toMatch(/program failed/);
    expect(executionHint({ ...base, result: "success" })).toBeNull();
    expect(executionHint({ ...base, status: "waiting", result: "none" })).toMatch(/PUT \/api\/v2\/callback_executions/);
  });
});

describe("the default workflow", () => {
  it("the copy in lib/governor (installed in DEMO by seed-demo) is workflows/default.yaml", async () => {
    const { DEFAULT_WORKFLOW_YAML } = await import("@/lib/governor/default-workflow");
    expect(DEFAULT_WORKFLOW_YAML).toBe(fs.readFileSync("workflows/default.yaml", "utf8"));
  });
});
