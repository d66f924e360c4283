// Entry of the de-identification worker threads (a BullMQ sandboxed processor). De-identification
// is CPU work; in threads it no longer holds up the event loop where the DICOM listener answers
// senders. Each thread opens its own PostgreSQL connection (server/db, from DATABASE_URL) and loads
// the TypeScript sources through tsx, as bin/atrium.mjs does.
import { register } from "tsx/esm/api";

register();
const { processDeid } = await import("./deid.ts");
export default processDeid;
