// Invitations that arrive (#21 §6): with ATRIUM_SMTP_HOST set, the invitation is e-mailed through
// it (a real SMTP exchange with a receiver started here); without, the answer says no mail server
// is configured and gives the link; a mail server that refuses or is down loses no invitation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People } from "../helpers/fixtures";
import { startSmtpReceiver, type SmtpReceiver } from "../helpers/smtp";
import { ROLE_INFO, roleDescription } from "@/lib/projects/roles";
import { sendSmtp, smtpConfig } from "@/lib/mail/smtp";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let smtp: SmtpReceiver;
const saved = { host: process.env.ATRIUM_SMTP_HOST, port: process.env.ATRIUM_SMTP_PORT, from: process.env.ATRIUM_MAIL_FROM, url: process.env.NEXTAUTH_URL };

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  smtp = await startSmtpReceiver();
  process.env.NEXTAUTH_URL = "https://atrium.institute.test";
});
afterAll(async () => {
  await smtp?.close();
  await db?.drop();
  for (const [k, v] of [["ATRIUM_SMTP_HOST", saved.host], ["ATRIUM_SMTP_PORT", saved.port], ["ATRIUM_MAIL_FROM", saved.from], ["NEXTAUTH_URL", saved.url]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function useMailServer(port: number | null) {
  if (port === null) {
    delete process.env.ATRIUM_SMTP_HOST;
    delete process.env.ATRIUM_SMTP_PORT;
  } else {
    process.env.ATRIUM_SMTP_HOST = "127.0.0.1";
    process.env.ATRIUM_SMTP_PORT = String(port);
    process.env.ATRIUM_MAIL_FROM = "atrium@institute.test";
  }
}

describe("invitation e-mail", () => {
  it("is sent through the configured SMTP server: who invites, to what, what the role may do, and the link", async () => {
    useMailServer(smtp.port);
    const f = await createProjectFixture(db.prisma, people, "MAILED", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    expect((await owner.member.list({ projectId: f.projectId })).mailConfigured).toBe(true);
    const r = await owner.member.invite({ projectId: f.projectId, email: "new.colleague@institute.test", role: "collaborator" });
    expect(r).toMatchObject({ status: "invited", mail: { sent: true, link: "https://atrium.institute.test/projects/MAILED" } });
    expect(smtp.messages).toHaveLength(1);
    const m = smtp.messages[0]!;
    expect(m.from).toBe("atrium@institute.test");
    expect(m.to).toEqual(["new.colleague@institute.test"]);
    expect(m.headers.subject).toMatch(/invited you to .* on Atrium/);
    expect(m.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(m.body).toContain('(MAILED) on Atrium as collaborator');
    for (const may of ROLE_INFO.collaborator.may) expect(m.body).toContain(may);
    expect(m.body).toContain("https://atrium.institute.test/projects/MAILED");
    expect(await db.prisma.projectInvitation.count({ where: { projectId: f.projectId, email: "new.colleague@institute.test" } })).toBe(1);
    const audit = await db.prisma.auditEvent.findFirstOrThrow({ where: { projectId: f.projectId, action: "invitation.mail" } });
    expect(audit.after).toEqual({ sent: true });
  });

  it("without a mail server: says so, and gives the link to pass on (also in the member list)", async () => {
    useMailServer(null);
    const before = smtp.messages.length;
    const f = await createProjectFixture(db.prisma, people, "NOMAIL", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    const r = await owner.member.invite({ projectId: f.projectId, email: "someone@institute.test", role: "member" });
    expect(r).toMatchObject({ status: "invited", mail: { sent: false, reason: "not-configured", link: "https://atrium.institute.test/projects/NOMAIL" } });
    expect(r.status === "invited" && !r.mail.sent && r.mail.message).toMatch(/^No mail server is configured \(ATRIUM_SMTP_HOST\), so no e-mail was sent\. Copy the link/);
    const list = await owner.member.list({ projectId: f.projectId });
    expect(list.mailConfigured).toBe(false);
    expect(list.invitations.find((i) => i.email === "someone@institute.test")?.link).toBe("https://atrium.institute.test/projects/NOMAIL");
    expect(smtp.messages.length).toBe(before);
  });

  it("a mail server that refuses the recipient, or is down: the invitation stays, the owner is told why", async () => {
    useMailServer(smtp.port);
    smtp.refuseRecipients = "550 5.1.1 mailbox unavailable";
    const f = await createProjectFixture(db.prisma, people, "REFUSED", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    const refused = await owner.member.invite({ projectId: f.projectId, email: "gone@institute.test", role: "member" });
    smtp.refuseRecipients = null;
    expect(refused).toMatchObject({ status: "invited", mail: { sent: false, reason: "failed" } });
    expect(refused.status === "invited" && !refused.mail.sent && refused.mail.message).toMatch(/e-mail could not be sent: The mail server refused the message: 550 5\.1\.1 mailbox unavailable/);
    // Nothing listens on this port.
    const closed = net.createServer();
    await new Promise<void>((res) => closed.listen(0, "127.0.0.1", res));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((res) => closed.close(() => res()));
    useMailServer(port);
    const down = await owner.member.invite({ projectId: f.projectId, email: "later@institute.test", role: "member" });
    expect(down.status === "invited" && !down.mail.sent && down.mail.message).toMatch(/cannot be reached \(ECONNREFUSED\)/);
    expect(await db.prisma.projectInvitation.count({ where: { projectId: f.projectId } })).toBe(3);
  });
});

describe("lib/mail", () => {
  it("reads its configuration, refuses header injection and non-addresses, and encodes non-ASCII subjects", async () => {
    expect(smtpConfig({})).toBeNull();
    expect(smtpConfig({ ATRIUM_SMTP_HOST: "relay" })).toEqual({ host: "relay", port: 25, from: "atrium@localhost" });
    expect(() => smtpConfig({ ATRIUM_SMTP_HOST: "relay", ATRIUM_SMTP_PORT: "x" })).toThrow(/ATRIUM_SMTP_PORT must be a port number/);
    const server = { host: "127.0.0.1", port: smtp.port, from: "atrium@institute.test" };
    await expect(sendSmtp(server, { to: ["a@b>\r\nRCPT TO:<evil@x"], subject: "x", body: "x" })).rejects.toThrow(/is not an e-mail address/);
    const before = smtp.messages.length;
    await sendSmtp(server, { to: ["a@institute.test"], subject: "Étude\r\nBcc: evil@x", body: ".leading dot\nsecond line" });
    const m = smtp.messages[before]!;
    expect(m.headers.bcc).toBeUndefined();
    expect(m.headers.subject).toMatch(/^=\?UTF-8\?B\?/);
    expect(Buffer.from(m.headers.subject!.slice(10, -2), "base64").toString("utf8")).toBe("Étude Bcc: evil@x");
    expect(m.body).toBe(".leading dot\r\nsecond line");
  });

  it("the role picker's words: each role says what it may do", () => {
    expect(roleDescription("owner")).toMatch(/^Owner: Manages the project and its members\. May everything a member may do; .*invite and remove people/);
    expect(roleDescription("collaborator")).toMatch(/download, only if the owners allow collaborators to\.$/);
  });
});
