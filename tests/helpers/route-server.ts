// Serves Next.js route handlers (app/**/route.ts POST/GET functions) over real HTTP without the
// Next build: each request becomes a web Request whose body is the IncomingMessage itself, as
// Next.js (NextRequestAdapter.fromNodeNextRequest) hands it over: pulled, so back-pressure holds.
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Handler = (req: Request, ctx: { params: Promise<Record<string, string>> }) => Promise<Response>;
export interface Route {
  method: string;
  /** Path pattern with named groups for the route's params, e.g. /^\/dicomweb\/studies\/(?<study>[^/]+)$/. */
  pattern: RegExp;
  handler: Handler;
}

export interface RouteServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startRouteServer(routes: Route[], host = "127.0.0.1"): Promise<RouteServer> {
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", `http://${req.headers.host ?? host}`);
      const route = routes.find((r) => r.method === req.method && r.pattern.test(url.pathname));
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      const params = (route.pattern.exec(url.pathname)?.groups ?? {}) as Record<string, string>;
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const request = new Request(url, {
        method: req.method,
        headers,
        body: hasBody ? (req as unknown as ReadableStream<Uint8Array>) : undefined,
        ...(hasBody ? { duplex: "half" } : {}),
      } as RequestInit);
      try {
        const response = await route.handler(request, { params: Promise.resolve(params) });
        res.writeHead(response.status, Object.fromEntries(response.headers));
        if (response.body) {
          // As Next.js does: a client that goes away cancels the response body.
          const reader = response.body.getReader();
          const onClose = () => {
            if (!res.writableFinished) void reader.cancel().catch(() => undefined);
          };
          res.on("close", onClose);
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            if (!res.write(value)) await new Promise<void>((r) => { res.once("drain", r); res.once("close", r); });
            if (res.destroyed) break;
          }
          res.off("close", onClose);
        }
        res.end();
      } catch (e) {
        if (res.headersSent) {
          res.destroy(); // a body that failed part-way: the client sees a cut connection, as with Next.js
          return;
        }
        res.writeHead(500, { "content-type": "text/plain" }).end(String((e as Error).stack));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
