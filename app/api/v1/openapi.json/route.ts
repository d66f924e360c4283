// GET /api/v1/openapi.json: the task API's OpenAPI document (public: it describes, it holds no data).
import { TASK_API_OPENAPI } from "@/lib/tasks/openapi";

export function GET() {
  return Response.json(TASK_API_OPENAPI, { headers: { "cache-control": "public, max-age=300" } });
}
