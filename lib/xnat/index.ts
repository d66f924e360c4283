// lib/xnat: a typed XNAT REST client (what xnatpy is in Python). Usage: USAGE.md beside this file.
export { XnatClient, experimentPath, resourcePath, sizeNotes } from "./client";
export type { ImportDicomZipInput, ImportResult, VerifyExpectation, VerifyReport, XnatClientOptions, XnatConnectOptions } from "./client";
export { XnatError, extractServerMessage, redact } from "./errors";
export type { XnatErrorKind } from "./errors";
export { XnatTransport, backoffDelay } from "./transport";
export type { RetryPolicy, TransportOptions, XnatCredentials } from "./transport";
export { parseUriList, parseXnatUri, prearchivePath } from "./uri";
export type { XnatUri } from "./uri";
export { dicomZipStream, manifestOf, entryNames } from "./zip";
export type { DicomZipEntry, DicomZipManifest, DicomZipOptions } from "./zip";
export * from "./types";
