import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { currentUser } from "@/server/auth/current";
import { UnroutedQuarantine } from "@/components/admin/UnroutedQuarantine";

export const metadata: Metadata = { title: "Unrouted quarantine" };

export default async function UnroutedQuarantinePage() {
  // The data itself is guarded by adminProcedure; this only spares others an empty page.
  const user = await currentUser();
  if (!user?.siteAdmin) notFound();
  return <UnroutedQuarantine />;
}
