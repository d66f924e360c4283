import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { currentUser } from "@/server/auth/current";
import { SiteAudit } from "@/components/admin/SiteAudit";

export const metadata: Metadata = { title: "Site audit log" };

export default async function Page() {
  // The data itself is guarded by adminProcedure; this only spares others an empty page.
  const user = await currentUser();
  if (!user?.siteAdmin) notFound();
  return <SiteAudit />;
}
