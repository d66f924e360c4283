// `npm test`, step one: are the system tools and services the tests use here?
//
// The tests run against real parts (README "Test it"): DCMTK, Orthanc with its DICOMweb plugin,
// Chromium, the DejaVu fonts, Redis, PostgreSQL. This script checks each of them in well under a
// second when all is there. What is missing it installs with apt-get when it can (running as root
// on Debian/Ubuntu, unless ATRIUM_TEST_INSTALL=0); otherwise it stops at once and prints the one
// command to run. Then it makes sure PostgreSQL (ATRIUM_TEST_DATABASE_URL) and Redis (REDIS_URL)
// answer, starting the local ones when they are installed but not running, and creates the
// tests' administrative database if it does not exist yet.
//
// Adding a test that needs a new system tool: add it to REQUIREMENTS below (its Debian package and
// how to tell it is there); tests/setup/test-setup.test.ts checks the table.
//
// Plain JavaScript: it runs before anything is compiled.
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Is `name` an executable in one of PATH's folders (or an absolute path to one)? */
export function onPath(name, env = process.env) {
  const candidates = name.includes("/") ? [name] : (env.PATH ?? "").split(path.delimiter).filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/**
 * What the tests need from the system. `present(env)` must be fast (no process started); `pkg` is
 * the Debian package that provides it.
 */
export const REQUIREMENTS = [
  {
    what: "DCMTK (storescu, storescp, echoscu, findscu, dcmdump, dcmodify, dcmcrle, dcmdrle)",
    pkg: "dcmtk",
    present: (env) => ["storescu", "storescp", "echoscu", "findscu", "dcmdump", "dcmodify", "dcmcrle", "dcmdrle"].every((t) => onPath(t, env)),
  },
  { what: "Orthanc (a DICOM and DICOMweb peer)", pkg: "orthanc", present: (env) => onPath(env.ATRIUM_ORTHANC ?? "Orthanc", env) },
  {
    what: "Orthanc's DICOMweb plugin",
    pkg: "orthanc-dicomweb",
    present: (env) => existsSync(env.ATRIUM_ORTHANC_DICOMWEB ?? "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
  },
  { what: "Chromium (browser tests)", pkg: "chromium", present: (env) => onPath(env.ATRIUM_CHROMIUM ?? "/usr/bin/chromium", env) },
  { what: "DejaVu fonts (text in the browser tests' pages)", pkg: "fonts-dejavu-core", present: () => existsSync("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf") },
  { what: "Redis (redis-server, redis-cli)", pkg: "redis-server", present: (env) => onPath("redis-server", env) && onPath("redis-cli", env) },
  { what: "PostgreSQL client (psql, pg_isready)", pkg: "postgresql-client", present: (env) => onPath("psql", env) && onPath("pg_isready", env) },
  { what: "tar (XNAT archive uploads)", pkg: "tar", present: (env) => onPath("tar", env) },
  { what: "promtool (checks the /metrics exposition)", pkg: "prometheus", present: (env) => onPath("promtool", env) },
  { what: "pyxnat (a real XNAT client that keeps the XNAT test server honest)", pkg: "python3-pyxnat", present: () => existsSync("/usr/lib/python3/dist-packages/pyxnat/__init__.py") },
  { what: "dicom3tools' dciodvfy (checks the DICOM SR and SEG that task results export)", pkg: "dicom3tools", present: (env) => onPath("dciodvfy", env) },
  { what: "dcm2niix (the dicom-stats example pipeline)", pkg: "dcm2niix", present: (env) => onPath("dcm2niix", env) },
  {
    what: "SLURM (sbatch, squeue, scontrol, scancel, sinfo, slurmctld, slurmd; scripts/slurm-dev.sh)",
    pkg: "slurm-wlm",
    present: (env) => ["sbatch", "squeue", "scontrol", "scancel", "sinfo", "slurmctld", "slurmd"].every((t) => onPath(t, env)),
  },
  { what: "MUNGE (SLURM's authentication daemon)", pkg: "munge", present: (env) => onPath("munged", env) },
];

/** The requirements not met, in table order. */
export function missingRequirements(env = process.env) {
  return REQUIREMENTS.filter((r) => !r.present(env));
}

/** The one command that installs `pkgs` (with sudo when not root). */
export function installCommand(pkgs, root = process.getuid?.() === 0) {
  return `${root ? "" : "sudo "}apt-get update && ${root ? "" : "sudo "}apt-get install -y --no-install-recommends ${pkgs.join(" ")}`;
}

function hostPort(url, defaultPort) {
  const u = new URL(url);
  return { host: u.hostname || "127.0.0.1", port: Number(u.port || defaultPort) };
}

function isLocal(host) {
  return host === "127.0.0.1" || host === "localhost" || host === "::1";
}

/** Does something accept TCP connections at host:port (within `ms`)? */
export function answers(host, port, ms = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

async function waitFor(host, port, seconds) {
  for (let i = 0; i < seconds * 5; i++) {
    if (await answers(host, port, 500)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], env });
  return r.status === 0;
}

/** The local PostgreSQL clusters Debian knows (version, name), for pg_ctlcluster. */
function debianClusters() {
  try {
    return readdirSync("/etc/postgresql").flatMap((v) => readdirSync(path.join("/etc/postgresql", v)).map((c) => ({ version: v, name: c })));
  } catch {
    return [];
  }
}

/**
 * Lets the tests connect as `postgres` over 127.0.0.1 without a password, as the README's default
 * ATRIUM_TEST_DATABASE_URL does. Only for a cluster this script installed itself (a fresh test
 * machine); an existing installation's authentication is never changed.
 */
function trustLocalPostgres() {
  for (const c of debianClusters()) {
    const hba = path.join("/etc/postgresql", c.version, c.name, "pg_hba.conf");
    const text = readFileSync(hba, "utf8");
    if (text.includes("# atrium tests")) continue;
    writeFileSync(hba, `# atrium tests: the test suite connects as postgres without a password\nhost all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust\n${text}`);
  }
}

async function ensurePostgres(say) {
  const url = process.env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
  const { host, port } = hostPort(url, 5432);
  if (!(await answers(host, port))) {
    const clusters = debianClusters();
    if (!isLocal(host) || clusters.length === 0 || !onPath("pg_ctlcluster")) {
      return `PostgreSQL does not answer at ${host}:${port} (ATRIUM_TEST_DATABASE_URL). Start it, or install it: ${installCommand(["postgresql"])}`;
    }
    say(`starting PostgreSQL ${clusters[0].version}/${clusters[0].name}`);
    run("pg_ctlcluster", ["--skip-systemctl-redirect", clusters[0].version, clusters[0].name, "start"]);
    if (!(await waitFor(host, port, 30))) return `PostgreSQL did not start at ${host}:${port}: see pg_ctlcluster's output above.`;
  }
  // The administrative database the tests create theirs from.
  const { default: pg } = await import("pg");
  const dbName = decodeURIComponent(new URL(url).pathname.slice(1) || "postgres");
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
    await probe.end();
    return null;
  } catch (e) {
    await probe.end().catch(() => undefined);
    if (e.code !== "3D000") return `cannot connect to PostgreSQL with ATRIUM_TEST_DATABASE_URL (${e.code ?? e.message}); it needs a user that may create databases.`;
  }
  const u = new URL(url);
  u.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: u.toString() });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${dbName.replaceAll('"', '""')}"`);
    say(`created the database ${dbName}`);
    return null;
  } catch (e) {
    if (e.code === "42P04") return null; // created meanwhile
    return `cannot create the database ${dbName} (${e.code ?? e.message}).`;
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function ensureRedis(say) {
  const { host, port } = hostPort(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", 6379);
  if (await answers(host, port)) return null;
  if (!isLocal(host)) return `Redis does not answer at ${host}:${port} (REDIS_URL).`;
  say(`starting redis-server on port ${port}`);
  run("redis-server", ["--daemonize", "yes", "--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"]);
  return (await waitFor(host, port, 10)) ? null : `redis-server did not start on port ${port}.`;
}

/** The whole check; resolves with an exit code. */
export async function setup({ env = process.env, log = (s) => console.error(s) } = {}) {
  const t0 = performance.now();
  const say = (s) => log(`test setup: ${s}`);
  const problems = [];
  if (Number(process.versions.node.split(".")[0]) < 20) problems.push(`Node.js ${process.version} is too old: the tests need Node.js 20 or later.`);
  if (!existsSync(path.join(ROOT, "node_modules", "vitest"))) problems.push("node_modules is not installed: run npm install (or npm ci) first.");

  let missing = missingRequirements(env);
  let installedPostgres = false;
  const mayInstall = env.ATRIUM_TEST_INSTALL !== "0" && process.getuid?.() === 0 && onPath("apt-get", env);
  // A fresh machine may lack PostgreSQL itself: the server is needed when nothing answers locally.
  const pgUrl = env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
  const pgAt = hostPort(pgUrl, 5432);
  const needPgServer = isLocal(pgAt.host) && debianClusters().length === 0 && !(await answers(pgAt.host, pgAt.port));
  const pkgs = [...missing.map((r) => r.pkg), ...(needPgServer ? ["postgresql"] : [])];
  if (pkgs.length > 0) {
    const what = [...missing.map((r) => r.what), ...(needPgServer ? ["PostgreSQL server"] : [])];
    if (mayInstall) {
      say(`installing ${pkgs.join(" ")} (missing: ${what.join("; ")})`);
      const aptEnv = { ...env, DEBIAN_FRONTEND: "noninteractive" };
      const ok = run("apt-get", ["update", "-qq"], aptEnv) && run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...pkgs], aptEnv);
      if (!ok) problems.push(`apt-get could not install ${pkgs.join(" ")}; run it yourself: ${installCommand(pkgs)}`);
      installedPostgres = ok && needPgServer;
      missing = missingRequirements(env);
      if (ok && missing.length) problems.push(`still missing after apt-get: ${missing.map((r) => r.what).join("; ")}`);
    } else {
      problems.push(`the tests need ${what.join("; ")}. Install with:\n\n  ${installCommand(pkgs)}\n\nthen run npm test again.`);
    }
  }
  if (!problems.length) {
    if (installedPostgres) trustLocalPostgres();
    const pgProblem = await ensurePostgres(say);
    if (pgProblem) problems.push(pgProblem);
    const redisProblem = await ensureRedis(say);
    if (redisProblem) problems.push(redisProblem);
  }
  if (problems.length) {
    log(`npm test cannot run yet:\n- ${problems.join("\n- ")}`);
    return 1;
  }
  if (env.ATRIUM_TEST_SETUP_VERBOSE === "1") say(`all present (${Math.round(performance.now() - t0)} ms)`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await setup();
}
