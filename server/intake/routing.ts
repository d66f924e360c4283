// Step 2 of intake: which project an instance goes to. The way in binds it (AE route, API token,
// webhook source, upload into a project); per-project routing rules (lib/intake/rules) refine it:
//  - bound to a project with enabled rules: the instance must match one of them, else it is
//    quarantined in that project (reason code rule_mismatch);
//  - bound to a project without enabled rules: accepted;
//  - sent to the site-wide AE title (ATRIUM_AE_TITLE): only the projects site admins enabled for
//    site routing (SiteRoutingProject) are tried, in the order they set, each project's enabled
//    rules by position; the first match wins; no match → quarantine "no project accepts this"
//    (no project, reason code no_route). A project that is not enabled is never consulted.
// Rules are cached for RULE_CACHE_MS so intake stays fast. Header values never reach a reason or
// a log line.
import type { PrismaClient } from "@/server/db/generated/client";
import { compileRule, type CompiledRule, type HeaderLookup, type ReasonCode } from "@/lib/intake/rules";
import { NotReadableError, readRuleHeader } from "@/lib/intake/rules/header";
import { siteAeTitle } from "@/lib/config";
import { pickSiteProject } from "@/lib/intake/site-routing";
import { childLog } from "@/lib/log";
import type { Route, StagedFile } from "./receive";

const log = childLog("intake");

/** What the way in decided before looking at the instance's tags. */
export type Binding =
  | { projectId: string }
  | { projectId: null; reason: string; reasonCode?: ReasonCode }
  /** The site-wide AE title: bound to no project, the rules decide. */
  | { site: true };

export const RULE_CACHE_MS = 2_000;

interface ProjectRules {
  projectId: string;
  rules: { id: string; rule: CompiledRule }[];
}

interface RoutingState {
  /** Every project's enabled rules (for instances bound to a project). */
  projects: Map<string, ProjectRules>;
  /** The projects enabled for site routing, in the site admins' order. */
  siteOrder: string[];
}

let cache: ({ at: number } & RoutingState) | null = null;

/** Forgets the cached rules (after a change in this process; other processes see it within RULE_CACHE_MS). */
export function clearRuleCache() {
  cache = null;
}

/** Every project's enabled rules, compiled (rules by position), and the site routing order. */
async function routingState(prisma: PrismaClient): Promise<RoutingState> {
  if (cache && Date.now() - cache.at <= RULE_CACHE_MS) return cache;
  const [rows, site] = await Promise.all([
    prisma.routingRule.findMany({
      where: { enabled: true },
      orderBy: [{ projectId: "asc" }, { position: "asc" }, { createdAt: "asc" }],
      select: { id: true, projectId: true, expression: true },
    }),
    prisma.siteRoutingProject.findMany({ orderBy: [{ position: "asc" }, { projectId: "asc" }], select: { projectId: true } }),
  ]);
  const projects = new Map<string, ProjectRules>();
  for (const r of rows) {
    let rule: CompiledRule;
    try {
      rule = compileRule(r.expression);
    } catch {
      // Saved rules are checked when saved; one that no longer parses is skipped, not fatal.
      log.warn({ ruleId: r.id, projectId: r.projectId }, "routing rule does not parse; skipped");
      continue;
    }
    const p = projects.get(r.projectId) ?? { projectId: r.projectId, rules: [] };
    p.rules.push({ id: r.id, rule });
    projects.set(r.projectId, p);
  }
  cache = { at: Date.now(), projects, siteOrder: site.map((p) => p.projectId) };
  return cache;
}

function unreadable(projectId: string | null, e: NotReadableError, context: string): Route {
  return {
    projectId,
    quarantine: {
      code: e.code === "not_dicom" ? "not_dicom" : "malformed",
      reason: `${context}, but the file cannot be read as DICOM (${e.code}), so no rule can be checked. Fix it at the source and send it again.`,
    },
  };
}

function plural(n: number, word: string) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export async function resolveRoute(prisma: PrismaClient, binding: Binding, file: StagedFile): Promise<Route> {
  if ("site" in binding) return routeBySiteRules(prisma, file);
  if (binding.projectId === null) return { projectId: null, quarantine: { reason: binding.reason, code: binding.reasonCode ?? "no_route" } };
  const projectId = binding.projectId;
  const rules = (await routingState(prisma)).projects.get(projectId)?.rules;
  if (!rules?.length) return { projectId };
  let header: HeaderLookup;
  try {
    header = readRuleHeader(file.path);
  } catch (e) {
    if (e instanceof NotReadableError) return unreadable(projectId, e, `Project ${projectId} accepts only what matches its routing rules`);
    throw e;
  }
  if (rules.some((r) => r.rule.matches(header))) return { projectId };
  return {
    projectId,
    quarantine: {
      code: "rule_mismatch",
      reason: `No routing rule of project ${projectId} matched this instance (${plural(rules.length, "enabled rule")} checked). An owner can accept it anyway (Retry), route it to another project or delete it; if instances like it belong here, change the rules.`,
    },
  };
}

async function routeBySiteRules(prisma: PrismaClient, file: StagedFile): Promise<Route> {
  const { projects, siteOrder } = await routingState(prisma);
  const site = siteAeTitle();
  const candidates = siteOrder.filter((id) => projects.get(id)?.rules.length);
  if (!candidates.length) {
    return {
      projectId: null,
      quarantine: {
        code: "no_route",
        reason: siteOrder.length
          ? `No project accepts this: it was sent to the site AE title ${site}, and none of the projects enabled for site routing has enabled routing rules. Their owners add rules in the project's Intake tab; a site admin can then route it.`
          : `No project accepts this: it was sent to the site AE title ${site}, and no project is enabled for site routing yet. A site admin enables projects under Site routing (/admin/routing), or routes this instance to a project.`,
      },
    };
  }
  let header: HeaderLookup;
  try {
    header = readRuleHeader(file.path);
  } catch (e) {
    if (e instanceof NotReadableError) return unreadable(null, e, `It was sent to the site AE title ${site}`);
    throw e;
  }
  const projectId = pickSiteProject(candidates, (id) => projects.get(id)?.rules.map((r) => r.rule), header);
  if (projectId) return { projectId };
  return {
    projectId: null,
    quarantine: {
      code: "no_route",
      reason: `No project accepts this: it was sent to the site AE title ${site} and matched no routing rule (${plural(candidates.length, "project")} enabled for site routing checked). A site admin can route it to a project, or delete it.`,
    },
  };
}
