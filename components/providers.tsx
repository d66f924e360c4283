"use client";
import type { ReactNode } from "react";
import { MantineProvider } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { cssVariablesResolver, theme } from "@/components/ui/theme";
import { ApiProvider } from "@/components/trpc";
import { z } from "zod";

// The Content Security Policy forbids eval: zod must not probe for it (it would report a violation).
z.config({ jitless: true });

export function Providers({ children }: { children: ReactNode }) {
  return (
    <MantineProvider theme={theme} defaultColorScheme="light" cssVariablesResolver={cssVariablesResolver}>
      <Notifications position="top-right" />
      <ApiProvider>{children}</ApiProvider>
    </MantineProvider>
  );
}
