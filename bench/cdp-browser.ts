// Debian's Chromium driven over the DevTools protocol on a pipe, with nothing but the commands a
// load benchmark needs: contexts, cookies, navigation and evaluation. Playwright enables the
// Network domain on every page it drives (to report requests), and with it Chromium copies every
// response into DevTools' buffers: for a viewer that fetches 100 MB of frames that made the page
// measurably slower than it is for a person (1.75 s → 2.7–2.9 s for the same 200 fetches, measured
// here). A page opened here has no DevTools domain enabled.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";

export interface CdpCookie {
  name: string;
  value: string;
  domain: string;
  path: string;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: "Strict" | "Lax" | "None";
}

export interface CdpPage {
  /** Navigates; resolves once the navigation has started (the page's timings count from it). */
  goto(url: string): Promise<void>;
  /** Evaluates an expression in the page (awaiting a promise) and returns its value as JSON. */
  evaluate<T>(expression: string): Promise<T>;
  /** Evaluates `predicate` every `pollMs` until it is truthy; throws after `timeoutMs`. */
  waitFor(predicate: string, timeoutMs: number, pollMs?: number): Promise<void>;
  /** Any other DevTools command, on this page's session (e.g. Profiler.start to see where the time goes). */
  send<T>(method: string, params?: object): Promise<T>;
}

export interface CdpContext {
  newPage(): Promise<CdpPage>;
  close(): Promise<void>;
}

export interface CdpBrowser {
  /** A new browser context (its own cookies and HTTP cache) holding `cookies`. */
  newContext(cookies: CdpCookie[]): Promise<CdpContext>;
  close(): Promise<void>;
}

export async function launchCdpBrowser(executablePath: string, args: string[]): Promise<CdpBrowser> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-cdp-"));
  const child: ChildProcess = spawn(executablePath, ["--remote-debugging-pipe", `--user-data-dir=${userDataDir}`, ...args, "about:blank"], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const toChrome = child.stdio[3] as Writable;
  const fromChrome = child.stdio[4] as Readable;
  let nextId = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let buffered = "";
  fromChrome.setEncoding("utf8");
  fromChrome.on("data", (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf("\0"); end >= 0; end = buffered.indexOf("\0")) {
      const msg = JSON.parse(buffered.slice(0, end)) as { id?: number; result?: unknown; error?: { message: string } };
      buffered = buffered.slice(end + 1);
      const p = msg.id === undefined ? undefined : pending.get(msg.id);
      if (!p) continue;
      pending.delete(msg.id!);
      if (msg.error) p.reject(new Error(`Chromium: ${msg.error.message}`));
      else p.resolve(msg.result);
    }
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => {
    for (const p of pending.values()) p.reject(new Error(`Chromium exited: ${stderr.trim().split("\n").slice(-3).join(" | ")}`));
    pending.clear();
  });
  const send = <T>(method: string, params: object = {}, sessionId?: string) =>
    new Promise<T>((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      toChrome.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });

  await send("Browser.getVersion");
  return {
    async newContext(cookies) {
      const { browserContextId } = await send<{ browserContextId: string }>("Target.createBrowserContext");
      if (cookies.length) await send("Storage.setCookies", { browserContextId, cookies });
      return {
        async newPage() {
          const { targetId } = await send<{ targetId: string }>("Target.createTarget", { url: "about:blank", browserContextId });
          const { sessionId } = await send<{ sessionId: string }>("Target.attachToTarget", { targetId, flatten: true });
          const evaluate = async <T>(expression: string): Promise<T> => {
            const r = await send<{ result: { value?: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }>("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true }, sessionId);
            if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
            return r.result.value as T;
          };
          return {
            async goto(url) {
              const r = await send<{ errorText?: string }>("Page.navigate", { url }, sessionId);
              if (r.errorText) throw new Error(`navigation to ${url} failed: ${r.errorText}`);
            },
            evaluate,
            send: (method, params) => send(method, params, sessionId),
            async waitFor(predicate, timeoutMs, pollMs = 100) {
              const deadline = Date.now() + timeoutMs;
              for (;;) {
                // A navigation in progress destroys the context an evaluation runs in: try again.
                if (await evaluate<boolean>(`Boolean(${predicate})`).catch(() => false)) return;
                if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${predicate}`);
                await new Promise((r) => setTimeout(r, pollMs));
              }
            },
          };
        },
        async close() {
          await send("Target.disposeBrowserContext", { browserContextId });
        },
      };
    },
    async close() {
      await send("Browser.close").catch(() => undefined);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
