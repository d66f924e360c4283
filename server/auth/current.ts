// The signed-in user for server components and pages (same mechanism as tRPC and routes).
import { headers } from "next/headers";
import { db } from "@/server/db";
import { sessionUserFromHeaders, type SessionUser } from "@/server/auth/session";

export async function currentUser(): Promise<SessionUser | null> {
  return sessionUserFromHeaders(await db(), await headers());
}
