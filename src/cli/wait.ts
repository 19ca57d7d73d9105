// `vpcep wait`: polls GET /ready until the daemon answers ready, a listener failure, or the timeout.
import { boundedFetch, jsonOf, NoAnswer } from './bounded-fetch.js';

export interface WaitResult {
  readonly ready: boolean;
  /** public services whose listeners cannot bind (the daemon answers, but is not ready) */
  readonly failed: ReadonlyArray<{ service: string; error_code?: string; error_msg?: string }>;
  /** the last answer or network error, for the message of a timeout */
  readonly last: string;
}

const POLL_MS = 100;


/**
 * Polls until `timeoutMs` has passed, each check waiting for its answer until then (at least POLL_MS).
 * A timeout of 0 is one check, which waits for its answer as long as any call of the CLI
 * (`checkMs`): cut at POLL_MS, a fresh process's first fetch (270-505 ms on a loaded machine) read
 * as a daemon that did not answer.
 */
export async function waitReady(baseUrl: string, timeoutMs: number, checkMs: number): Promise<WaitResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}/ready`;
  const until = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const { res, text } = await boundedFetch(url, {}, timeoutMs === 0 ? checkMs : Math.max(POLL_MS, until - Date.now()));
      const body = (jsonOf(text) ?? {}) as { status?: string; failed?: WaitResult['failed'] };
      if (res.status === 200 && body.status === 'ready') return { ready: true, failed: [], last: 'ready' };
      if (body.status === 'failed' && body.failed?.length) return { ready: false, failed: body.failed, last: 'failed' };
      last = `HTTP ${res.status}${body.status ? ` (${body.status})` : ''}`;
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      // a check cut short at the deadline (given POLL_MS) tells nothing new: the answer before it stands
      const cutAtDeadline = e instanceof NoAnswer && Date.now() >= until && last !== 'no answer yet';
      if (!cutAtDeadline) last = cause?.code ?? (e as Error).message;
    }
    if (Date.now() >= until) return { ready: false, failed: [], last };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
