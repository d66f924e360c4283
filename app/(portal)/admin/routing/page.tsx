import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { currentUser } from "@/server/auth/current";
import { SiteRouting } from "@/components/admin/SiteRouting";

export const metadata: Metadata = { title: "Site routing" };

export default async function Page() {
  // The data itself is guarded by adminProcedure; this only spares others an empty page.
  const user = await currentUser();
  if (!user?.siteAdmin) notFound();
  return <SiteRouting />;
}
