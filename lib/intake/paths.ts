// Where intake keeps files, relative to the data directory. Paths never carry identifying values:
// staged files get generated names (the receivers choose them); de-identified ones are named by
// de-identified UIDs.
import path from "node:path";

const UID = /^[0-9.]{1,64}$/;

export function deidentifiedRelPath(projectId: string, studyUid: string, seriesUid: string, sopUid: string): string {
  for (const uid of [studyUid, seriesUid, sopUid]) {
    if (!UID.test(uid)) throw new Error("A de-identified UID must be digits and dots (at most 64).");
  }
  return path.join("projects", projectId, "instances", studyUid, seriesUid, `${sopUid}.dcm`);
}
