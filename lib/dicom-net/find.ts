// C-FIND SCU at STUDY level (Study Root Query/Retrieve Information Model - FIND): how many instances
// a peer holds of one study (NumberOfStudyRelatedInstances, 0020,1208). Used by forwarding's
// post-send verification. A peer that does not accept the C-FIND presentation context is reported as
// such ("unsupported"), not as an error: the study was sent, it cannot be verified there. So is one
// that rejects the association or aborts the query (Orthanc aborts C-FIND from AE titles it does not
// know): the message says what to register.
import net from "node:net";
import { dimse, Network, type NetworkInstance } from "./dimse";
import type * as DimseTypes from "dcmjs-dimse";
import { describeRejection } from "./scu";
import { TS } from "./uids";

export const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const { PresentationContextResult } = dimse.constants;

export type StudyCountResult =
  /** The peer answered: how many instances it holds of the study (0 when it does not know the study). */
  | { kind: "count"; count: number }
  /** The peer does not answer C-FIND (context refused, or the answer has no count). */
  | { kind: "unsupported"; message: string }
  /** The question could not be asked (connection, rejection, failure status). */
  | { kind: "error"; message: string };

export async function findStudyInstanceCount(opts: { host: string; port: number; calledAe: string; callingAe: string; studyInstanceUid: string; timeoutMs?: number }): Promise<StudyCountResult> {
  const where = `${opts.host}:${opts.port}`;
  const association = new dimse.association.Association(opts.callingAe, opts.calledAe);
  const pc = association.addPresentationContext(STUDY_ROOT_FIND);
  association.addTransferSyntaxToPresentationContext(pc, TS.ExplicitVRLittleEndian);
  association.addTransferSyntaxToPresentationContext(pc, TS.ImplicitVRLittleEndian);
  return new Promise<StudyCountResult>((resolve) => {
    let result: StudyCountResult | undefined;
    const finish = (r: StudyCountResult) => (result ??= r);
    const socket = net.connect({ host: opts.host, port: opts.port });
    socket.setNoDelay(true);
    const timeout = opts.timeoutMs ?? 60_000;
    const network = new Network(socket, { connectTimeout: timeout, associationTimeout: timeout, pduTimeout: timeout }) as unknown as NetworkInstance;
    let lastError: string | undefined;
    network.on("connect", () => network.sendAssociationRequest(association));
    network.on("associationAccepted", () => {
      const ctx = association.getPresentationContext(pc);
      if (ctx.getResult() !== PresentationContextResult.Accept) {
        finish({ kind: "unsupported", message: `${opts.calledAe} at ${where} does not answer C-FIND queries (Study Root)` });
        network.sendAssociationReleaseRequest();
        return;
      }
      const request = new dimse.requests.CFindRequest();
      request.setDataset(new dimse.Dataset({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: opts.studyInstanceUid, NumberOfStudyRelatedInstances: "" }));
      let count = 0;
      let sawCount = false;
      let matches = 0;
      request.on("response", (response: DimseTypes.responses.CFindResponse) => {
        const status = response.getStatus();
        if (status === 0xff00 || status === 0xff01) {
          matches++;
          const v = (response.getDataset()?.getElements() as Record<string, unknown> | undefined)?.NumberOfStudyRelatedInstances;
          const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
          if (Number.isFinite(n)) {
            count += n;
            sawCount = true;
          }
          return;
        }
        if (status === 0x0000) {
          if (matches === 0) finish({ kind: "count", count: 0 });
          else if (!sawCount) finish({ kind: "unsupported", message: `${opts.calledAe} at ${where} answers C-FIND without Number of Study Related Instances` });
          else finish({ kind: "count", count });
          return;
        }
        finish({ kind: "error", message: `${opts.calledAe} at ${where} answered the C-FIND with status 0x${status.toString(16).toUpperCase().padStart(4, "0")}` });
      });
      network.sendRequests([request]);
    });
    network.on("done", () => network.sendAssociationReleaseRequest());
    network.on("associationReleaseResponse", () => socket.end());
    network.on("associationRejected", (r: { result: number; source: number; reason: number }) => {
      finish({ kind: "unsupported", message: `${opts.calledAe} at ${where} refused the C-FIND association (${describeRejection(r)}): to verify, let the receiver answer queries from "${opts.callingAe}"` });
      socket.end();
    });
    network.on("abort", () => {
      finish({ kind: "unsupported", message: `${opts.calledAe} at ${where} aborted the C-FIND (it does not answer queries from "${opts.callingAe}"; to verify, register that AE title on the receiver, e.g. Orthanc's DicomModalities)` });
      socket.end();
    });
    network.on("networkError", (err: Error) => {
      lastError = err.message;
      socket.destroy();
    });
    network.on("close", () => {
      resolve(result ?? { kind: "error", message: `could not ask ${where} (${lastError ? lastError.replace(/^.*?-> /, "") : "the connection closed before an answer"})` });
    });
  });
}
