import { db } from "@/server/db";
import { sessionUserFromHeaders } from "@/server/auth/session";
import type { Context } from "@/server/trpc/init";

export async function createContext(headers: Headers): Promise<Context> {
  const prisma = await db();
  return { prisma, user: await sessionUserFromHeaders(prisma, headers) };
}
