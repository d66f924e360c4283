// Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = process.env.ATRIUM_CHROMIUM ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

/** Signs in through the portal's development sign-in (no OIDC configured) and waits for the project list. */
export async function devSignIn(page: Page, baseUrl: string, email: string, name: string): Promise<void> {
  await page.goto(`${baseUrl}/signin`);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Sign in as this user" }).click();
  await page.waitForURL(`${baseUrl}/projects`);
}
