import type { Metadata } from "next";
import { ProjectView } from "@/components/projects/ProjectView";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: (await params).id };
}

export default async function ProjectPage({ params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<{ tab?: string }> }) {
  return <ProjectView projectId={(await params).id} initialTab={(await searchParams).tab ?? "overview"} />;
}
