// `atrium start`: the portal and the workers in one process, on PostgreSQL (DATABASE_URL) or the
// embedded PGlite under ATRIUM_DATA_DIR, with Redis from REDIS_URL or a private redis-server.
import http from "node:http";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

/** Headers a client could forge to change the URLs Atrium builds; dropped unless a proxy is trusted. */
const FORWARDED_HEADERS = ["x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-for", "forwarded"];

export const summary = "Start the portal (http://localhost:3000) and the workers, with an embedded database unless DATABASE_URL is set.";

const usage = `Usage: atrium start [--port N] [--no-workers] [--rebuild]

Starts the web portal and the workers in one process.
  --port N       listen on port N (default: PORT or 3000)
  --no-workers   start only the portal (run \`atrium worker\` elsewhere)
  --rebuild      rebuild the portal even if the build looks current
  --dicom-port N the DICOM C-STORE listener's port (default: ATRIUM_DICOM_PORT or 11112; 0: off)
Environment: DATABASE_URL (default: embedded PGlite under ATRIUM_DATA_DIR=./.atrium), REDIS_URL,
ATRIUM_OIDC_ISSUER / _CLIENT_ID / _CLIENT_SECRET (SSO), ATRIUM_ADMINS (site admin e-mails).
Without SSO and outside production the development sign-in is on, and the portal listens on
127.0.0.1 only; ATRIUM_DEV_SIGNIN_EXPOSE=1 serves it (and the sign-in) on every interface.`;

function requestGroup(url: string | undefined): string {
  const p = (url ?? "/").split("?")[0]!;
  if (p.startsWith("/api/")) return `api/${p.split("/")[2] ?? ""}`;
  if (p.startsWith("/_next/")) return "static";
  if (p === "/metrics") return "metrics";
  if (p.startsWith("/dicomweb/")) return "dicomweb";
  return "page";
}

export async function run(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      "no-workers": { type: "boolean" },
      rebuild: { type: "boolean" },
      "dicom-port": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  // Next.js sets NODE_ENV=production when it serves a build; whether the development sign-in may
  // exist is decided by how Atrium itself was launched, and cannot be switched on from outside.
  process.env.ATRIUM_DEV_SIGNIN = process.env.NODE_ENV === "production" ? "0" : "1";
  const [{ readEnv, dataDir, devSignInEnabled, oidcConfigured, servedOverHttps, trustProxy }, { childLog }, { NONCE_HEADER, securityHeaders }] = await Promise.all([
    import("@/lib/config"),
    import("@/lib/log"),
    import("@/lib/http/security-headers"),
  ]);
  const log = childLog("launch");
  const env = readEnv();
  const port = Number(values.port ?? env.PORT);
  const dir = dataDir(env);
  // Anyone who reaches the development sign-in can sign in as any e-mail, an admin's included: it
  // is served on the loopback interface only, unless the operator says otherwise.
  const devSignIn = devSignInEnabled(env);
  const exposeDev = env.ATRIUM_DEV_SIGNIN_EXPOSE === "1";
  const host = devSignIn && !exposeDev ? "127.0.0.1" : undefined;
  const signInLine = devSignIn
    ? exposeDev
      ? "sign-in: DEVELOPMENT sign-in, reachable from the network (ATRIUM_DEV_SIGNIN_EXPOSE=1): anyone who can connect can sign in as anyone"
      : "sign-in: development sign-in; listening on 127.0.0.1 only (set ATRIUM_OIDC_* for SSO, or ATRIUM_DEV_SIGNIN_EXPOSE=1 to serve it on all interfaces)"
    : oidcConfigured(env)
      ? `sign-in: SSO (${env.ATRIUM_OIDC_NAME}); listening on all interfaces`
      : "sign-in: none configured (production without ATRIUM_OIDC_*); listening on all interfaces";

  // Take the port first: a clash is reported before anything slow happens. Until the portal is
  // ready, every request gets 503, so health checks see "starting".
  let handler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | null = null;
  const server = http.createServer((req, res) => {
    if (handler) return handler(req, res);
    res.writeHead(503, { "content-type": "application/json", "retry-after": "2" }).end('{"status":"starting"}');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if (host) server.listen(port, host, () => resolve());
      else server.listen(port, () => resolve());
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    console.error(
      code === "EADDRINUSE"
        ? `atrium: port ${port} is already in use. Stop what is using it, or start on another port: PORT=3001 npm start (or atrium start --port 3001).`
        : `atrium: cannot listen on port ${port}: ${(e as Error).message}`,
    );
    return 1;
  }

  // Loaded here, not at the top: `atrium --help` loads every command's module (see cli/main.ts).
  const [{ ensureRedis, RedisUnavailableError }, { persistentSecret }, { buildIsCurrent, buildPortal, ROOT }, { openAndMigrate }, { onShutdown }, { precompressedStaticHandler }] =
    await Promise.all([
      import("@/server/launch/redis"),
      import("@/server/launch/secret"),
      import("@/server/launch/build"),
      import("@/server/launch/database"),
      import("@/server/launch/shutdown"),
      import("@/server/launch/static-assets"),
    ]);
  let redis;
  try {
    redis = await ensureRedis(env.REDIS_URL, dir);
  } catch (e) {
    server.close();
    if (e instanceof RedisUnavailableError) {
      console.error(`atrium: ${e.message}`);
      return 1;
    }
    throw e;
  }
  process.env.REDIS_URL = redis.url;
  process.env.NEXTAUTH_SECRET ??= persistentSecret(dir);
  process.env.NEXTAUTH_URL ??= `http://localhost:${port}`;

  const { handle } = await openAndMigrate();

  if (values.rebuild || !buildIsCurrent()) {
    console.log("atrium: building the portal (once per version; takes a minute or two)…");
    buildPortal();
  }

  const { default: next } = await import("next");
  // Where the portal's build is, for pages that read what it recorded (server/viewer/assets.ts).
  process.env.ATRIUM_PORTAL_DIR = ROOT;
  const app = next({ dev: false, dir: ROOT, port, hostname: "localhost" });
  await app.prepare();
  const nextHandler = app.getRequestHandler();
  const serveStatic = precompressedStaticHandler(ROOT);
  // DICOMweb study resources (a viewer's frames, metadata, rendered images) answered without Next.js's per-request costs.
  const serveDicomweb = (await import("@/server/dicomweb/node-handler")).dicomwebNodeHandler();
  const { metrics } = await import("@/server/metrics");
  const { httpRequests } = metrics();
  const workers = values["no-workers"] ? null : await (await import("@/workers")).startWorkers({ redisUrl: redis.url });
  const dicomPort = Number(values["dicom-port"] ?? env.ATRIUM_DICOM_PORT);
  const dicom =
    workers && dicomPort
      ? await (await import("@/server/intake/dicom-listener")).startDicomListener({ prisma: handle.prisma, dataDir: dir, port: dicomPort })
      : null;

  process.env.ATRIUM_DICOM_LISTENING_PORT = String(dicom?.port ?? 0);
  // Ready only now: a health check that answers 200 means portal, workers and listener all run.
  const https = servedOverHttps();
  const proxyTrusted = trustProxy(env);
  const issuerOrigin = oidcConfigured(env) ? [new URL(env.ATRIUM_OIDC_ISSUER!).origin] : [];
  handler = (req, res) => {
    // X-Forwarded-* from the client are believed only with ATRIUM_TRUST_PROXY=1: otherwise they are
    // dropped here and Next.js derives them from the Host header and the socket.
    if (!proxyTrusted) for (const h of FORWARDED_HEADERS) delete req.headers[h];
    // Security headers on every answer; the CSP nonce reaches Next.js through the request's own
    // CSP header (it applies it to its inline scripts) and the root layout through NONCE_HEADER.
    const nonce = randomBytes(16).toString("base64");
    const headers = securityHeaders({ nonce, https, formActionOrigins: issuerOrigin });
    req.headers["content-security-policy"] = headers["content-security-policy"];
    req.headers[NONCE_HEADER] = nonce;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.on("finish", () => httpRequests.inc({ route: requestGroup(req.url), status: `${Math.floor(res.statusCode / 100)}xx` }));
    if (serveStatic(req, res) || serveDicomweb(req, res)) return;
    void nextHandler(req, res);
  };

  log.info({ port, host: host ?? "all interfaces", devSignIn, database: handle.kind, workers: Boolean(workers) }, "atrium started");
  console.log(`atrium: ${signInLine}`);
  console.log(`atrium: portal on http://localhost:${port} (database: ${handle.kind}${handle.kind === "pglite" ? ` in ${dir}` : ""}; workers: ${workers ? "running" : "not started"}; DICOM: ${dicom ? `port ${dicom.port}` : "off"})`);

  onShutdown(async () => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000).unref())]);
    server.closeAllConnections();
    await dicom?.close();
    await workers?.close();
    await app.close?.();
  }, redis.stop);
  return new Promise<number>(() => undefined);
}
