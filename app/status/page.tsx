// System status for people (the sign-in page links here): the same probes as /api/health, which
// load balancers read as JSON, in words. Public, like /api/health: it names no host or database.
import type { Metadata } from "next";
import { StatusView } from "@/components/status/StatusView";
import { healthReport } from "@/server/health";

export const metadata: Metadata = { title: "System status" };
export const dynamic = "force-dynamic";

export default async function StatusPage() {
  return <StatusView report={await healthReport()} />;
}
