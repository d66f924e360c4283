// A project's intake settings when it has saved none. Its own module (no zod, no DICOM code) so
// that readers such as `atrium status` load nothing more to know them.
export const INTAKE_DEFAULTS = { stableAfterSeconds: 60, deidProfile: "basic", deidScript: null as string | null };
