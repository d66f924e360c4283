// `atrium start`: the portal and the workers in one process, on PostgreSQL (DATABASE_URL) or the
// embedded PGlite under ATRIUM_DATA_DIR, with Redis from REDIS_URL or a private redis-server.
import http from "node:http";
import { parseArgs } from "node:util";
import { readEnv, dataDir } from "@/lib/config";
import { childLog } from "@/lib/log";
import { ensureRedis, RedisUnavailableError } from "@/server/launch/redis";
import { persistentSecret } from "@/server/launch/secret";
import { buildIsCurrent, buildPortal, ROOT } from "@/server/launch/build";
import { openAndMigrate } from "@/server/launch/database";
import { onShutdown } from "@/server/launch/shutdown";

const log = childLog("launch");

export const summary = "Start the portal (http://localhost:3000) and the workers, with an embedded database unless DATABASE_URL is set.";

const usage = `Usage: atrium start [--port N] [--no-workers] [--rebuild]

Starts the web portal and the workers in one process.
  --port N       listen on port N (default: PORT or 3000)
  --no-workers   start only the portal (run \`atrium worker\` elsewhere)
  --rebuild      rebuild the portal even if the build looks current
  --dicom-port N the DICOM C-STORE listener's port (default: ATRIUM_DICOM_PORT or 11112; 0: off)
Environment: DATABASE_URL (default: embedded PGlite under ATRIUM_DATA_DIR=./.atrium), REDIS_URL,
ATRIUM_OIDC_ISSUER / _CLIENT_ID / _CLIENT_SECRET (SSO), ATRIUM_ADMINS (site admin e-mails).`;

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
  const env = readEnv();
  const port = Number(values.port ?? env.PORT);
  const dir = dataDir(env);

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
      server.listen(port, () => resolve());
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
  const app = next({ dev: false, dir: ROOT, port, hostname: "localhost" });
  await app.prepare();
  const nextHandler = app.getRequestHandler();
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
  handler = (req, res) => {
    res.on("finish", () => httpRequests.inc({ route: requestGroup(req.url), status: `${Math.floor(res.statusCode / 100)}xx` }));
    void nextHandler(req, res);
  };

  log.info({ port, database: handle.kind, workers: Boolean(workers) }, "atrium started");
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
