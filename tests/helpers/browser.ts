// Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = process.env.ATRIUM_CHROMIUM ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}
