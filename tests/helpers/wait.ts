// Polls until a probe returns something truthy, or fails after a timeout saying what it waited for.

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Appended to the timeout error (e.g. the counts seen last). */
  detail?: () => Promise<string> | string;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  { timeoutMs = 10_000, intervalMs = 10, detail }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `: ${await detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until something accepts TCP connections on 127.0.0.1:port (a server the test started). */
export async function waitForPort(port: number, what = `a server on port ${port}`, timeoutMs = 10_000): Promise<void> {
  const net = await import("node:net");
  await waitFor(
    what,
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port });
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      }),
    { timeoutMs, intervalMs: 20 },
  );
}
