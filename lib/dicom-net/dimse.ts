// Loads dcmjs-dimse 0.3.3 (a CommonJS/UMD bundle) for ESM code, sets Atrium's implementation identity
// and silences its logging and that of the dcmjs copy it bundles (see dicom-network.md).
import { createRequire } from "node:module";
import type * as DimseTypes from "dcmjs-dimse";
import { ATRIUM_IMPLEMENTATION_CLASS_UID, ATRIUM_IMPLEMENTATION_VERSION } from "./uids";

const require = createRequire(import.meta.url);

export const dimse = require("dcmjs-dimse") as typeof DimseTypes;

interface Loglevel {
  setLevel(level: string, persist?: boolean): void;
  getLogger(name: string): Loglevel;
}

function silence(): void {
  (dimse.log as unknown as Loglevel).setLevel("silent", false);
  // dcmjs-dimse bundles its own dcmjs (0.50.x) next to it; the top-level dcmjs is a separate copy.
  const fromDimse = createRequire(require.resolve("dcmjs-dimse"));
  for (const req of [fromDimse, require]) {
    try {
      const dcmjs = req("dcmjs") as { log?: Loglevel };
      dcmjs.log?.setLevel("silent", false);
      dcmjs.log?.getLogger("validation.dcmjs").setLevel("silent", false);
    } catch {
      // dcmjs not resolvable from here: nothing to silence
    }
  }
}

silence();
dimse.Implementation.setImplementationClassUid(ATRIUM_IMPLEMENTATION_CLASS_UID);
dimse.Implementation.setImplementationVersion(ATRIUM_IMPLEMENTATION_VERSION);

/** The dcmjs-dimse Network class (the base of Scp; not exported by name). */
export const Network = Object.getPrototypeOf(dimse.Scp) as typeof DimseTypes.Scp extends new (...a: infer A) => infer _R
  ? new (...a: A) => NetworkInstance
  : never;

/** The parts of a dcmjs-dimse Network object used here that its index.d.ts does not declare. */
export interface NetworkInstance {
  socket: import("node:net").Socket;
  association?: DimseTypes.association.Association;
  connected: boolean;
  connectedTime?: number;
  on(event: string, listener: (...args: never[]) => void): unknown;
  sendAssociationRequest(a: DimseTypes.association.Association): void;
  sendAssociationReleaseRequest(): void;
  sendRequests(r: DimseTypes.requests.Request[] | DimseTypes.requests.Request): void;
  sendAbort(source?: number, reason?: number): void;
}

export type Dimse = typeof DimseTypes;
