import type { ReactNode } from "react";
import { redirect } from "next/navigation";
import { currentUser } from "@/server/auth/current";
import { AppFrame } from "@/components/ui/AppFrame";

export const dynamic = "force-dynamic";

export default async function PortalLayout({ children }: { children: ReactNode }) {
  const user = await currentUser();
  if (!user) redirect("/signin");
  return <AppFrame user={user}>{children}</AppFrame>;
}
