// Step 2 of intake: which project an instance goes to. The way in binds it (AE route, API token,
// webhook source, upload into a project); per-project tag rules refine it. Nothing matches →
// quarantine with a reason a data manager can act on.
import type { PrismaClient } from "@/server/db/generated/client";
import type { Route, StagedFile } from "./receive";

/** What the way in decided before looking at the instance's tags. */
export type Binding = Route;

export async function resolveRoute(_prisma: PrismaClient, binding: Binding, _file: StagedFile): Promise<Route> {
  return binding;
}
