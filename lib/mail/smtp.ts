// Sending mail: a minimal SMTP client (no AUTH/TLS: a local relay, as sites run next to their
// services), used by the governor's send_mail callback and by project invitations. Configured by
// ATRIUM_SMTP_HOST (none: no mail), ATRIUM_SMTP_PORT (25) and ATRIUM_MAIL_FROM (atrium@localhost).
import net from "node:net";
import { randomBytes } from "node:crypto";

export interface SmtpServer {
  host: string;
  port: number;
  from: string;
}

export interface MailMessage {
  to: string[];
  subject: string;
  body: string;
}

/** The configured mail server, or null when ATRIUM_SMTP_HOST is not set. */
export function smtpConfig(env: Record<string, string | undefined> = process.env): SmtpServer | null {
  const host = env.ATRIUM_SMTP_HOST?.trim();
  if (!host) return null;
  const port = Number(env.ATRIUM_SMTP_PORT?.trim() || 25);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`ATRIUM_SMTP_PORT must be a port number (1-65535), not "${env.ATRIUM_SMTP_PORT}".`);
  return { host, port, from: env.ATRIUM_MAIL_FROM?.trim() || "atrium@localhost" };
}

export class MailError extends Error {
  override name = "MailError";
}

/** One header line: no CR/LF (no header injection); non-ASCII as an RFC 2047 encoded word. */
function headerValue(s: string): string {
  const flat = s.replace(/[\r\n]+/g, " ");
  return /^[\x20-\x7e]*$/.test(flat) ? flat : `=?UTF-8?B?${Buffer.from(flat, "utf8").toString("base64")}?=`;
}

function address(a: string): string {
  const t = a.trim();
  if (!/^[^\s<>@,;:"\\]+@[^\s<>@,;:"\\]+$/.test(t)) throw new MailError(`"${t.slice(0, 100)}" is not an e-mail address.`);
  return t;
}

/**
 * Sends one plain-text message (UTF-8, 8bit). Rejects with MailError saying what the server
 * answered, or that it could not be reached, within `timeoutMs` for the whole exchange.
 */
export async function sendSmtp(server: SmtpServer, message: MailMessage, opts: { timeoutMs?: number } = {}): Promise<void> {
  const from = address(server.from);
  const to = message.to.map(address);
  if (!to.length) throw new MailError("No recipient.");
  const sock = net.connect(server.port, server.host);
  sock.setEncoding("utf8");
  let buf = "";
  const waiters: ((l: string) => void)[] = [];
  sock.on("data", (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\r\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (/^\d{3} /.test(line)) waiters.shift()?.(line);
    }
  });
  const failed = new Promise<never>((_, rej) =>
    sock.on("error", (e: NodeJS.ErrnoException) => rej(new MailError(`The mail server ${server.host}:${server.port} cannot be reached (${e.code ?? e.message}).`))),
  );
  failed.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new MailError(`The mail server ${server.host}:${server.port} did not answer within ${Math.round((opts.timeoutMs ?? 10_000) / 1000)} s.`)), opts.timeoutMs ?? 10_000);
  });
  timeout.catch(() => undefined);
  const reply = (expect: string) =>
    Promise.race([
      failed,
      timeout,
      new Promise<string>((res, rej) => waiters.push((l) => (l.startsWith(expect) ? res(l) : rej(new MailError(`The mail server refused the message: ${l.slice(0, 200)}`))))),
    ]);
  const cmd = (c: string, expect: string) => {
    const p = reply(expect);
    sock.write(c + "\r\n");
    return p;
  };
  try {
    await reply("220");
    await cmd("HELO atrium", "250");
    await cmd(`MAIL FROM:<${from}>`, "250");
    for (const r of to) await cmd(`RCPT TO:<${r}>`, "25");
    await cmd("DATA", "354");
    const domain = from.split("@")[1] ?? "localhost";
    const msg = [
      `From: ${from}`,
      `To: ${to.join(", ")}`,
      `Subject: ${headerValue(message.subject)}`,
      `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
      `Message-ID: <${randomBytes(12).toString("hex")}@${domain}>`,
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      ...message.body.split(/\r?\n/).map((l) => (l.startsWith(".") ? "." + l : l)),
    ].join("\r\n");
    await cmd(msg + "\r\n.", "250");
    await cmd("QUIT", "221");
  } finally {
    clearTimeout(timer);
    sock.end();
  }
}
