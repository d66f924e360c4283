import type { Metadata } from "next";
import { MyTasks } from "@/components/tasks/MyTasks";
import { viewerAssets } from "@/server/viewer/assets";

export const metadata: Metadata = { title: "My tasks" };

export default function Page() {
  // A reader goes from here to a task: the browser fetches the viewer's code and frame fetcher while
  // idle (prefetch: low priority, into its cache), so the task page does not wait for them.
  const { frameFetcher, viewerScripts } = viewerAssets();
  const prefetch = frameFetcher ? [frameFetcher, ...viewerScripts] : viewerScripts;
  return (
    <>
      {prefetch.map((href) => (
        <link key={href} rel="prefetch" as="script" href={href} />
      ))}
      <MyTasks />
    </>
  );
}
