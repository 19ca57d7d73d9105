// fetch with a deadline the CLI can rely on. A peer that never answers (a stopped daemon) would hold
// a call forever, and one that closes without an answer can leave fetch's promise unsettled with
// nothing keeping Node alive (the CLI exited 13, silent). AbortSignal.timeout's timer does not keep
// the process alive; this one does, and aborts the call at the deadline.

/** the reason a call was aborted at its deadline */
export class NoAnswer extends Error {}

/** fetch(url, init), aborted after MS with the reason NoAnswer "no answer within <s> s" */
export async function boundedFetch(url: string | URL, init: RequestInit, ms: number): Promise<{ res: Response; text: string }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new NoAnswer(`no answer within ${Math.round(ms / 100) / 10} s`)), ms);
  try {
    const res = await fetch(url, { ...init, signal: abort.signal });
    return { res, text: await res.text() };
  } catch (e) {
    throw abort.signal.aborted ? abort.signal.reason : e;
  } finally {
    clearTimeout(timer);
  }
}

/** an answer's body as JSON, or undefined when it is not JSON */
export function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
