// The boundary of a multipart Content-Type. No Node imports: the viewer's frame fetcher (a browser
// worker) reads multipart answers too (components/viewer/multipart-parts).

/** The boundary of a multipart Content-Type, or null. */
export function multipartBoundary(contentType: string | null): string | null {
  if (!contentType || !/^multipart\//i.test(contentType.trim())) return null;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}
