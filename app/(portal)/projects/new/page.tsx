import type { Metadata } from "next";
import { CreateProjectForm } from "@/components/projects/CreateProjectForm";

export const metadata: Metadata = { title: "New project" };

export default function NewProjectPage() {
  return <CreateProjectForm />;
}
