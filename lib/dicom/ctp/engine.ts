import type { Transform } from "../deid";
export const ctpTransform: Transform = async () => ({ kind: "skipped", reason: "not implemented" });
