import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { currentUser } from "@/server/auth/current";
import { OperationsPanel } from "@/components/admin/OperationsPanel";

export const metadata: Metadata = { title: "Operations" };

export default async function Page() {
  // The data itself is guarded by adminProcedure; this only spares others an empty page.
  const user = await currentUser();
  if (!user?.siteAdmin) notFound();
  return <OperationsPanel />;
}
