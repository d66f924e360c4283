import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { currentUser } from "@/server/auth/current";
import { ProjectCreationSetting } from "@/components/admin/ProjectCreationSetting";

export const metadata: Metadata = { title: "Project creation" };

export default async function Page() {
  // The data itself is guarded by adminProcedure; this only spares others an empty page.
  const user = await currentUser();
  if (!user?.siteAdmin) notFound();
  return <ProjectCreationSetting />;
}
