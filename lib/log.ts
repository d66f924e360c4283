// Structured JSON logging (pino). Never pass DICOM header values, file names from senders or
// request bodies to a logger: log ids, counts, codes and reasons instead.
import pino from "pino";

export const log = pino({
  level: process.env.ATRIUM_LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "warn" : "info"),
  base: { service: "atrium" },
  redact: { paths: ["*.password", "*.secret", "*.token", "*.authorization", "*.cookie"], censor: "[redacted]" },
});

export function childLog(component: string) {
  return log.child({ component });
}
