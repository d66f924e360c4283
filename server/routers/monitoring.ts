// Operations (site admins): queues, workers, alerts. `live` pushes the overview over server-sent
// events (tRPC subscription) every few seconds while a page is open; it stops when the page goes.
import { z } from "zod";
import { TRPCError } from "@trpc/server";
import { router, adminProcedure, projectProcedure } from "@/server/trpc/init";
import { caseChainInput } from "@/lib/monitoring/case-chain";
import { caseChainOf } from "@/server/monitoring/case-chain";
import { operationsOverview } from "@/server/monitoring/overview";

export const LIVE_INTERVAL_MS = 3_000;

export const monitoringRouter = router({
  /** One experiment's chain: received → de-identified → archived → forwarded → runs → tasks → workflow → done. Members (it lists the tasks). */
  caseChain: projectProcedure("member")
    .input(caseChainInput)
    .query(async ({ ctx, input }) => {
      const chain = await caseChainOf(ctx.prisma, ctx.project.id, input.experimentId);
      if (!chain) throw new TRPCError({ code: "NOT_FOUND", message: "No such experiment in this project." });
      return chain;
    }),
  overview: adminProcedure.query(async ({ ctx }) => operationsOverview(ctx.prisma)),
  live: adminProcedure.input(z.object({ intervalMs: z.number().int().min(500).max(60_000).default(LIVE_INTERVAL_MS) }).default({ intervalMs: LIVE_INTERVAL_MS })).subscription(async function* ({ ctx, input, signal }) {
    while (!signal?.aborted) {
      yield await operationsOverview(ctx.prisma);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, input.intervalMs);
        signal?.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    }
  }),
});
