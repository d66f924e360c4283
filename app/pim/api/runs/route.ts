// POST /pim/api/runs/ — fastr's PIM reporter registers a run with its network's graph.
import { handleRegister } from "@/server/pim/http";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(req: Request) {
  return handleRegister(req);
}
