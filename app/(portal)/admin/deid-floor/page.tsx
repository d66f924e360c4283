import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { currentUser } from "@/server/auth/current";
import { DeidFloorPanel } from "@/components/admin/DeidFloorPanel";

export const metadata: Metadata = { title: "De-identification floor" };

export default async function DeidFloorPage() {
  // The data itself is guarded by adminProcedure; this only spares others an empty page.
  const user = await currentUser();
  if (!user?.siteAdmin) notFound();
  return <DeidFloorPanel />;
}
