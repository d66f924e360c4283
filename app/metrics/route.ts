// Prometheus metrics: a scraper with ATRIUM_METRICS_TOKEN, or a site admin (server/http/access.ts).
import { metrics } from "@/server/metrics";
import { requireMetricsAccess } from "@/server/http/access";
import { jobHistogramsExposition } from "@/server/monitoring/metrics";

export const dynamic = "force-dynamic";

export async function GET(req: Request) {
  const access = await requireMetricsAccess(req.headers);
  if (!access.ok) return access.response;
  const { registry } = metrics();
  const body = (await registry.metrics()) + (await jobHistogramsExposition());
  return new Response(body, { headers: { "content-type": registry.contentType, "cache-control": "no-store" } });
}
