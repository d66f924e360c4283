// Shell quoting for the executors' job scripts.

/** `s` quoted for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
