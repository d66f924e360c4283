// C-ECHO SCU: opens an association with the Verification SOP class only and sends one C-ECHO.
// Used by forwarding's "Test connection"; answers with what to fix rather than throwing.
import net from "node:net";
import { dimse, Network, type NetworkInstance } from "./dimse";
import type * as DimseTypes from "dcmjs-dimse";
import { describeRejection } from "./scu";
import { TS, VERIFICATION_SOP_CLASS } from "./uids";

export interface EchoResult {
  ok: boolean;
  /** What happened, and when not ok what to fix. */
  message: string;
  durationMs: number;
}

export async function cEcho(opts: { host: string; port: number; calledAe: string; callingAe: string; timeoutMs?: number }): Promise<EchoResult> {
  const t0 = Date.now();
  const where = `${opts.host}:${opts.port}`;
  const association = new dimse.association.Association(opts.callingAe, opts.calledAe);
  const id = association.addPresentationContext(VERIFICATION_SOP_CLASS);
  association.addTransferSyntaxToPresentationContext(id, TS.ImplicitVRLittleEndian);
  association.addTransferSyntaxToPresentationContext(id, TS.ExplicitVRLittleEndian);
  return new Promise<EchoResult>((resolve) => {
    let result: Omit<EchoResult, "durationMs"> | undefined;
    const finish = (r: Omit<EchoResult, "durationMs">) => (result ??= r);
    const socket = net.connect({ host: opts.host, port: opts.port });
    socket.setNoDelay(true);
    const timeout = opts.timeoutMs ?? 10_000;
    const network = new Network(socket, { connectTimeout: timeout, associationTimeout: timeout, pduTimeout: timeout }) as unknown as NetworkInstance;
    let lastError: string | undefined;
    network.on("connect", () => network.sendAssociationRequest(association));
    network.on("associationAccepted", () => {
      const request = new dimse.requests.CEchoRequest();
      request.on("response", (response: DimseTypes.responses.CEchoResponse) => {
        const status = response.getStatus();
        finish(
          status === 0
            ? { ok: true, message: `C-ECHO to ${opts.calledAe} at ${where} succeeded.` }
            : { ok: false, message: `${opts.calledAe} at ${where} answered the C-ECHO with status 0x${status.toString(16).padStart(4, "0")}.` },
        );
      });
      network.sendRequests([request]);
    });
    network.on("done", () => network.sendAssociationReleaseRequest());
    network.on("associationReleaseResponse", () => socket.end());
    network.on("associationRejected", (r: { result: number; source: number; reason: number }) => {
      const text = describeRejection(r);
      const hint = r.reason === 7 ? ` Check the called AE title ("${opts.calledAe}") with the receiver's administrator.` : r.reason === 3 ? ` The receiver does not know Atrium's calling AE title ("${opts.callingAe}"): ask its administrator to add it.` : "";
      finish({ ok: false, message: `${where}: ${text}.${hint}` });
      socket.end();
    });
    network.on("abort", () => {
      finish({ ok: false, message: `${where} aborted the association (it may not accept the Verification SOP class or this AE title).` });
      socket.end();
    });
    network.on("networkError", (err: Error) => {
      lastError = err.message;
      socket.destroy();
    });
    network.on("close", () => {
      const code = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|EAI_AGAIN/.exec(lastError ?? "")?.[0];
      const hint =
        code === "ECONNREFUSED"
          ? "nothing listens on that port: check the host and port, and that the receiver is running."
          : code === "ENOTFOUND" || code === "EAI_AGAIN"
            ? "the host name does not resolve: check the host."
            : code
              ? `the host cannot be reached (${code}): check the host, port and firewalls.`
              : lastError
                ? `the connection failed (${lastError.replace(/^.*?-> /, "")}).`
                : "the connection closed before an answer.";
      finish({ ok: false, message: `Could not reach ${where}: ${hint}` });
      resolve({ ...result!, durationMs: Date.now() - t0 });
    });
  });
}
