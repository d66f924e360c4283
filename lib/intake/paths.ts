// Where intake keeps files, relative to the data directory. Paths never carry identifying values:
// staged files are named by their record id; de-identified ones by de-identified UIDs.
import path from "node:path";

export function stagingRelPath(instanceId: string, receivedAt: Date): string {
  return path.join("staging", receivedAt.toISOString().slice(0, 10), `${instanceId}.dcm`);
}

const UID = /^[0-9.]{1,64}$/;

export function deidentifiedRelPath(projectId: string, studyUid: string, seriesUid: string, sopUid: string): string {
  for (const uid of [studyUid, seriesUid, sopUid]) {
    if (!UID.test(uid)) throw new Error("A de-identified UID must be digits and dots (at most 64).");
  }
  return path.join("projects", projectId, "instances", studyUid, seriesUid, `${sopUid}.dcm`);
}
