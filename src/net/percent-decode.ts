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
