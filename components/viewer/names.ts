// Names the viewer's parts share across the build, the server and the page. No imports:
// next.config.ts loads this file as it is.

/** The frame fetcher worker's name, which is also its chunk's name in the build. */
export const FRAME_FETCHER_NAME = "atrium-frame-fetcher";
/** The chunk name of the viewer's code (components/viewer/index.tsx imports it by that name). */
export const VIEWER_CHUNK_NAME = "atrium-viewer";
/** Where the build writes those chunks' URLs (next.config.ts ViewerAssetsPlugin; server/viewer/assets.ts reads it for the viewer page's HTML). */
export const VIEWER_ASSETS_FILE = "atrium-viewer-assets.json";
/** The Element Timing identifier of the first images in the page's HTML (ViewerShell); the HTML's early start waits for one to load. */
export const FIRST_IMAGE_TIMING = "atrium-first-image";
