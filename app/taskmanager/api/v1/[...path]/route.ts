// TaskManager REST API v1 compatibility (issue #14): server/compat/taskmanager.
import { handleTaskManager } from "@/server/compat/taskmanager";

export const dynamic = "force-dynamic";
type Ctx = { params: Promise<{ path: string[] }> };

export async function GET(req: Request, ctx: Ctx) {
  return handleTaskManager(req, "GET", (await ctx.params).path);
}
export async function POST(req: Request, ctx: Ctx) {
  return handleTaskManager(req, "POST", (await ctx.params).path);
}
export async function PUT(req: Request, ctx: Ctx) {
  return handleTaskManager(req, "PUT", (await ctx.params).path);
}
export async function DELETE(req: Request, ctx: Ctx) {
  return handleTaskManager(req, "DELETE", (await ctx.params).path);
}
