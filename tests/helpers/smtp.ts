// A tiny SMTP receiver for tests: speaks enough RFC 5321 (HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP,
// QUIT) for a client to deliver to it, and keeps what it received. A real TCP server on 127.0.0.1.
import net from "node:net";

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The message as sent (headers, blank line, body), dot-unstuffed, CRLF line ends. */
  data: string;
  headers: Record<string, string>;
  body: string;
}

export interface SmtpReceiver {
  port: number;
  messages: ReceivedMail[];
  /** Answer RCPT TO with this line (e.g. "550 no such user") instead of 250. */
  refuseRecipients: string | null;
  close(): Promise<void>;
}

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const sockets = new Set<net.Socket>();
  const receiver: SmtpReceiver = { port: 0, messages: [], refuseRecipients: null, close: async () => undefined };
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.write("220 test-smtp ready\r\n");
    let buf = "";
    let inData = false;
    let lines: string[] = [];
    let from = "";
    let to: string[] = [];
    s.on("data", (d) => {
      buf += d.toString("utf8");
      let i;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            const data = lines.join("\r\n");
            const [head = "", ...rest] = data.split("\r\n\r\n");
            const headers: Record<string, string> = {};
            for (const h of head.split("\r\n")) {
              const c = h.indexOf(":");
              if (c > 0) headers[h.slice(0, c).toLowerCase()] = h.slice(c + 1).trim();
            }
            receiver.messages.push({ from, to, data, headers, body: rest.join("\r\n\r\n") });
            lines = [];
            s.write("250 2.0.0 queued\r\n");
          } else lines.push(line.startsWith("..") ? line.slice(1) : line);
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "HELO" || verb === "EHLO") s.write("250 test-smtp\r\n");
        else if (verb === "MAIL") {
          from = /<([^>]*)>/.exec(line)?.[1] ?? "";
          to = [];
          s.write("250 2.1.0 ok\r\n");
        } else if (verb === "RCPT") {
          if (receiver.refuseRecipients) s.write(`${receiver.refuseRecipients}\r\n`);
          else {
            to.push(/<([^>]*)>/.exec(line)?.[1] ?? "");
            s.write("250 2.1.5 ok\r\n");
          }
        } else if (verb === "DATA") {
          inData = true;
          s.write("354 end with <CRLF>.<CRLF>\r\n");
        } else if (verb === "QUIT") s.end("221 2.0.0 bye\r\n");
        else if (verb === "RSET" || verb === "NOOP") s.write("250 ok\r\n");
        else s.write("502 5.5.2 not implemented\r\n");
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  receiver.port = (server.address() as net.AddressInfo).port;
  receiver.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return receiver;
}
