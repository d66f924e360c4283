import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import type { ReactNode } from "react";
import type { Metadata } from "next";
import { headers } from "next/headers";
import { NONCE_HEADER } from "@/lib/http/security-headers";
import { ColorSchemeScript, mantineHtmlProps } from "@mantine/core";
import { Providers } from "@/components/providers";

export const metadata: Metadata = {
  title: { default: "Atrium", template: "%s · Atrium" },
  description: "Research imaging data: intake, de-identification, archive, pipelines and tasks.",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // The Content Security Policy's nonce of this request (set by `atrium start`).
  const nonce = (await headers()).get(NONCE_HEADER) ?? undefined;
  return (
    <html lang="en" {...mantineHtmlProps}>
      <head>
        <ColorSchemeScript defaultColorScheme="light" nonce={nonce} />
      </head>
      <body>
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
