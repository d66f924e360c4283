"use client";
// A component whose code is fetched when it is first shown (or earlier, with `preload`), rendered
// as soon as it has arrived. Unlike next/dynamic (React.lazy + Suspense), nothing waits for React's
// Suspense reveal throttle (~300 ms), which showed as a pause before a tab's content appeared.
import { createElement, useEffect, useState, type ComponentType } from "react";
import { Skeleton } from "@mantine/core";
import { ErrorAlert } from "./ErrorAlert";

export function lazyPanel<P extends object>(loader: () => Promise<ComponentType<P>>) {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<ComponentType<P>> | null = null;
  const preload = () =>
    (pending ??= loader().then(
      (c) => (loaded = c),
      (e: unknown) => {
        pending = null;
        throw e;
      },
    ));
  function LazyPanel(props: P) {
    const [, setReady] = useState(false);
    const [failed, setFailed] = useState(false);
    useEffect(() => {
      if (loaded) return;
      let live = true;
      preload().then(
        () => live && setReady(true),
        () => live && setFailed(true),
      );
      return () => {
        live = false;
      };
    }, []);
    if (loaded) return createElement(loaded, props);
    if (failed) return <ErrorAlert error={{ message: "This part of the page could not be loaded (the connection may have dropped, or Atrium was updated). Reload the page." }} title="Could not load this tab" />;
    return <Skeleton h={200} />;
  }
  return Object.assign(LazyPanel, { preload });
}
