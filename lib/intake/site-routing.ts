// Site AE routing (issue #17 §1): what scanners send to the site-wide AE title is routed by the
// rules of the projects site admins enabled for it, in the order they set; the first project with
// a matching rule wins. A project that is not enabled is never consulted, whatever its rules say.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";

export const setSiteRoutingInput = z.object({ projectId: projectIdSchema, enabled: z.boolean() });

export const reorderSiteRoutingInput = z.object({
  projectIds: z.array(projectIdSchema).max(10_000),
});

/** The first project, in `order`, one of whose rules matches; null when none does. */
export function pickSiteProject<H>(
  order: readonly string[],
  rulesOf: (projectId: string) => readonly { matches: (header: H) => boolean }[] | undefined,
  header: H,
): string | null {
  for (const projectId of order) {
    if (rulesOf(projectId)?.some((r) => r.matches(header))) return projectId;
  }
  return null;
}

/** True if `next` names exactly the projects of `current`, each once (a reorder, nothing more). */
export function isPermutation(current: readonly string[], next: readonly string[]): boolean {
  return current.length === next.length && new Set(next).size === next.length && next.every((id) => current.includes(id));
}
