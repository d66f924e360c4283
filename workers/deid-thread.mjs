// The de-identification thread's entry when Atrium runs from its TypeScript sources (tsx); the
// compiled CLI uses its compiled deid-thread.mjs instead. See deid-thread.ts.
import { register } from "tsx/esm/api";

register();
const { default: processDeid } = await import("./deid-thread.ts");
export default processDeid;
