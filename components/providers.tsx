"use client";
import type { ReactNode } from "react";
import { MantineProvider } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { theme } from "@/components/ui/theme";
import { ApiProvider } from "@/components/trpc";

export function Providers({ children }: { children: ReactNode }) {
  return (
    <MantineProvider theme={theme} defaultColorScheme="light">
      <Notifications position="top-right" />
      <ApiProvider>{children}</ApiProvider>
    </MantineProvider>
  );
}
