import type { Metadata } from "next";
import { MyTasks } from "@/components/tasks/MyTasks";

export const metadata: Metadata = { title: "My tasks" };

export default function Page() {
  return <MyTasks />;
}
