// Percent-escapes (RFC 3986 2.1) decoded without throwing.

/**
 * The text with its percent-escapes decoded, or undefined where one is malformed (a `%` that starts
 * no escape, bytes that are not UTF-8). The decoded text is returned, never dropped: the bundler
 * takes decodeURIComponent for a call without effects and removed a bare one, so that the bundled
 * daemon let every malformed escape through.
 */
export function percentDecoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * The text with each run of well-formed percent-escapes decoded and the rest as written: a `%` that
 * starts no escape, or a run that is not UTF-8, stays as it is (a password `100%`).
 */
export function percentDecodedLeniently(text: string): string {
  return text.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => percentDecoded(run) ?? run);
}
