// Fallback worker entry for `atrium deid --jobs N` when no pre-bundled worker is available:
// loads the TypeScript sources through tsx (slow: ~1 s per worker). See pool.ts.
import { register } from "tsx/esm/api";

register();
await import("./batch-worker.ts");
