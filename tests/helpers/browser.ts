// Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
import { chromium, type Browser, type Locator, type Page } from "playwright-core";

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

/**
 * Picks an option of a Mantine Select or Combobox. A click that lands while the field's
 * modal is still opening (its transition, its focus trap) can leave the dropdown closed,
 * so the field is clicked again until the option shows, as a person would.
 */
export async function chooseOption(page: Page, field: Locator, option: string | RegExp, timeoutMs = 30_000): Promise<void> {
  const choice = page.getByRole("option", { name: option });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await choice.first().isVisible())) await field.click();
    try {
      await choice.first().waitFor({ state: "visible", timeout: 2_000 });
      await choice.first().click({ timeout: 5_000 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}
