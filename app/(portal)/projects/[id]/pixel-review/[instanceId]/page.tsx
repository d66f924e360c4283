import type { Metadata } from "next";
import { PixelReviewPage } from "@/components/pixels/PixelReviewPage";

export const metadata: Metadata = { title: "Pixel review" };

export default async function Page({ params }: { params: Promise<{ id: string; instanceId: string }> }) {
  const { id, instanceId } = await params;
  return <PixelReviewPage projectId={id} instanceId={instanceId} />;
}
