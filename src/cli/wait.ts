// `vpcep wait`: polls GET /ready until the daemon answers ready, a listener failure, or the timeout.
import { boundedFetch, jsonOf } from './bounded-fetch.js';

export interface WaitResult {
  readonly ready: boolean;
  /** public services whose listeners cannot bind (the daemon answers, but is not ready) */
  readonly failed: ReadonlyArray<{ service: string; error_code?: string; error_msg?: string }>;
  /** the last answer or network error, for the message of a timeout */
  readonly last: string;
}

const POLL_MS = 100;


export async function waitReady(baseUrl: string, timeoutMs: number): Promise<WaitResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}/ready`;
  const until = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const { res, text } = await boundedFetch(url, {}, Math.max(POLL_MS, until - Date.now()));
      const body = (jsonOf(text) ?? {}) as { status?: string; failed?: WaitResult['failed'] };
      if (res.status === 200 && body.status === 'ready') return { ready: true, failed: [], last: 'ready' };
      if (body.status === 'failed' && body.failed?.length) return { ready: false, failed: body.failed, last: 'failed' };
      last = `HTTP ${res.status}${body.status ? ` (${body.status})` : ''}`;
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      last = cause?.code ?? (e as Error).message;
    }
    if (Date.now() >= until) return { ready: false, failed: [], last };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
