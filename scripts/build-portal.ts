// `npm run build`: the portal's production build, as `atrium start` makes it when sources changed
// (next build, then the static assets compressed once: server/launch/static-assets.ts).
import { buildPortal } from "../server/launch/build";

buildPortal();
