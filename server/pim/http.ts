// The PIM routes' request handling: bounded JSON bodies, one zod schema per payload, answers that
// say what is wrong. The routes under app/pim only call these.
import { z } from "zod";
import { readBodyCapped, BodyTooLargeError, humanBytes } from "@/lib/outbound/body";
import { describeIssues, pimJobBatchSchema, pimRunSchema } from "@/lib/pim/protocol";
import { requireReportToken } from "@/server/pim/access";
import { applyJobUpdates, registerRun } from "@/server/pim/store";

/** A registration carries the whole network; a batch may carry failed jobs' stdout and stderr. */
const MAX_RUN_BYTES = 20 * 1024 * 1024;
const MAX_BATCH_BYTES = 50 * 1024 * 1024;

function answer(status: number, body: unknown): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store" } });
}

async function readJson<T>(req: Request, schema: z.ZodType<T>, maxBytes: number, what: string): Promise<{ ok: true; value: T } | { ok: false; response: Response }> {
  let text: string;
  try {
    text = (await readBodyCapped(req, maxBytes)).toString("utf8");
  } catch (e) {
    if (e instanceof BodyTooLargeError) return { ok: false, response: answer(413, { error: `The ${what} is larger than ${humanBytes(maxBytes)}, the most Atrium accepts.` }) };
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, response: answer(400, { error: `The ${what} is not JSON. fastr's PIM reporter sends JSON; check pim_host points at <portal>/pim.` }) };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, response: answer(400, { error: `The ${what} is not what the PIM API v2 expects: ${describeIssues(parsed.error)}.` }) };
  return { ok: true, value: parsed.data };
}

export async function handleRegister(req: Request): Promise<Response> {
  const access = await requireReportToken(req);
  if (!access.ok) return access.response;
  const body = await readJson(req, pimRunSchema, MAX_RUN_BYTES, "run registration");
  if (!body.ok) return body.response;
  const outcome = await registerRun(access.prisma, access.token.projectId, access.token.tokenId, body.value);
  if (outcome.kind === "conflict") return answer(409, { error: outcome.message });
  return answer(outcome.kind === "created" ? 201 : 200, { id: body.value.title, project: access.token.projectId });
}

export async function handleJobUpdates(req: Request, runName: string): Promise<Response> {
  const access = await requireReportToken(req);
  if (!access.ok) return access.response;
  const body = await readJson(req, pimJobBatchSchema, MAX_BATCH_BYTES, "job update batch");
  if (!body.ok) return body.response;
  const outcome = await applyJobUpdates(access.prisma, access.token.projectId, runName, body.value);
  if (outcome.kind === "not-found") return answer(404, { error: outcome.message });
  if (outcome.kind === "invalid") return answer(422, { error: outcome.message, problems: outcome.problems.slice(0, 20) });
  return answer(200, { applied: outcome.applied, ignoredRegressions: outcome.ignoredRegressions });
}
