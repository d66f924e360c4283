// An unknown URL: a 404 inside the portal's frame (signed in) or beside the sign-in (not), with
// the way back, instead of Next's bare page.
import type { Metadata } from "next";
import { NotFoundCard } from "@/components/ui/NotFoundCard";
import { currentUser } from "@/server/auth/current";
import { AppFrame } from "@/components/ui/AppFrame";

export const metadata: Metadata = { title: "Page not found" };

export default async function NotFound() {
  const user = await currentUser();
  if (!user) return <NotFoundCard signedIn={false} />;
  return (
    <AppFrame user={user}>
      <NotFoundCard signedIn />
    </AppFrame>
  );
}
