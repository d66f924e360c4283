// Worker-thread entry for `atrium deid --jobs N`: loads the TypeScript sources through tsx (as
// bin/atrium.mjs does for the main thread) and starts the batch worker in lib/dicom/batch.ts.
import { register } from "tsx/esm/api";

register();
await import("./batch.ts");
