// Delivers connection notifications (src/model/notifications.ts) to webhooks: on each connection
// event the control plane emits, every enabled notification that covers it gets one message POSTed
// to its topic's URL (config `aws.sns_topics`). The message's shape is the dialect's (the daemon
// passes the renderer in); this module only delivers: in the background, never holding up the
// control plane or the API, with bounded retries and exponential backoff, a timeout per attempt;
// a message that fails every attempt is dropped, counted and logged once.
import { DEFAULTS } from '../model/defaults.js';
import { notificationCovers, type ConnectionEvent, type ConnectionNotification } from '../model/notifications.js';
import { percentDecodedLeniently } from '../net/percent-decode.js';

export interface WebhookMessage {
  readonly body: string;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly firstRetryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly attemptTimeoutMs: number;
  readonly maxAttemptsPerWebhook: number;
  readonly maxPending: number;
}

export interface WebhookOptions {
  /** the webhook URL of each declared topic */
  readonly topics: ReadonlyMap<string, string>;
  /** every account's notifications, now */
  notifications(): Iterable<ConnectionNotification>;
  /** whether its topic's policy lets its account publish now (false: dropped, counted and logged) */
  mayPublish(n: ConnectionNotification): boolean;
  /** the message of one notification for one event, in the shape its dialect sends */
  render(n: ConnectionNotification, e: ConnectionEvent): WebhookMessage;
  readonly log: { warn(obj: object, msg: string): void };
  readonly retry?: RetryPolicy;
}

export class WebhookNotifier {
  delivered = 0;
  failed = 0;
  retries = 0;
  private readonly o: WebhookOptions;
  private readonly retry: RetryPolicy;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  /** per webhook URL: attempts under way, and the attempts waiting for one of them to end */
  private readonly slots = new Map<string, { busy: number; waiting: (() => void)[] }>();
  private lastOverflowLog = -Infinity;
  private overflowed = 0;

  constructor(o: WebhookOptions) {
    this.o = o;
    this.retry = o.retry ?? DEFAULTS.notifications;
  }

  /** the control plane's listener: starts the deliveries and returns at once */
  handle(e: ConnectionEvent): void {
    if (this.closing.signal.aborted) return;
    for (const n of this.o.notifications()) {
      if (!notificationCovers(n, e.endpoint, e.event)) continue;
      const url = this.o.topics.get(n.topic);
      // a topic removed from the config since the notification was made: nowhere to send it
      if (url === undefined) {
        this.failed++;
        this.o.log.warn({ notification_id: n.id, topic: n.topic, event: e.event }, 'connection notification dropped: its topic is no longer in the config (aws.sns_topics)');
        continue;
      }
      // a topic whose policy no longer lets the account publish (SNS refuses such a publish)
      if (!this.o.mayPublish(n)) {
        this.failed++;
        this.o.log.warn({ notification_id: n.id, topic: n.topic, event: e.event }, 'connection notification dropped: its topic no longer lets its account publish (aws.sns_topics[].accounts)');
        continue;
      }
      let message: WebhookMessage;
      try {
        message = this.o.render(n, e);
      } catch (err) {
        this.failed++;
        this.o.log.warn({ err, notification_id: n.id, event: e.event }, 'connection notification dropped: its message could not be made');
        continue;
      }
      // a webhook that never answers keeps each message for its attempts' timeouts: a burst of
      // events must not pile up without bound (memory, and a socket per message before the bound per webhook)
      if (this.inFlight.size >= this.retry.maxPending) {
        this.dropOverflow(n, e);
        continue;
      }
      // a delivery that throws (a fault here, not the webhook's) is a message lost, never a rejection nothing handles (the process would end)
      const p = this.deliver(url, message, n, e).catch((err: unknown) => {
        this.failed++;
        this.o.log.warn({ err, notification_id: n.id, event: e.event }, 'connection notification not delivered');
      });
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  /** stops retrying, cuts the attempts under way and waits for them to end */
  async close(): Promise<void> {
    this.closing.abort();
    // the waiting attempts run now, each finding the notifier closing: each holds a slot until it ends
    for (const slot of this.slots.values()) {
      slot.busy += slot.waiting.length;
      for (const next of slot.waiting.splice(0)) next();
    }
    await Promise.allSettled([...this.inFlight]);
  }

  private async deliver(topicUrl: string, m: WebhookMessage, n: ConnectionNotification, e: ConnectionEvent): Promise<void> {
    const { attempts, firstRetryDelayMs, maxRetryDelayMs } = this.retry;
    const target = webhookTarget(topicUrl);
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.closing.signal.aborted) break;
      const status = await this.postInTurn(target, m);
      if (typeof status === 'number' && status >= 200 && status < 300) {
        this.delivered++;
        return;
      }
      last = typeof status === 'number' ? `HTTP ${status}` : status;
      if (attempt < attempts && !this.closing.signal.aborted) {
        this.retries++;
        await this.sleep(Math.min(maxRetryDelayMs, firstRetryDelayMs * 2 ** (attempt - 1)));
      }
    }
    this.failed++;
    this.o.log.warn({ notification_id: n.id, topic: n.topic, url: target.shown, event: e.event, endpoint_id: e.endpoint.id, last_error: last }, 'connection notification not delivered');
  }

  private dropOverflow(n: ConnectionNotification, e: ConnectionEvent): void {
    this.failed++;
    this.overflowed++;
    const now = performance.now();
    if (now - this.lastOverflowLog < 60_000) return;
    this.lastOverflowLog = now;
    this.o.log.warn({ notification_id: n.id, topic: n.topic, event: e.event, dropped: this.overflowed, pending: this.inFlight.size },
      `connection notifications dropped: ${this.retry.maxPending} messages already wait for their webhooks (one that does not answer?)`);
    this.overflowed = 0;
  }

  /** one attempt once fewer than maxAttemptsPerWebhook run to its URL: a socket each, however many messages wait */
  private async postInTurn(target: WebhookTarget, m: WebhookMessage): Promise<number | string> {
    const url = target.url;
    let slot = this.slots.get(url);
    if (!slot) this.slots.set(url, slot = { busy: 0, waiting: [] });
    if (slot.busy >= this.retry.maxAttemptsPerWebhook) await new Promise<void>((resolve) => slot!.waiting.push(resolve));
    else slot.busy++;
    try {
      if (this.closing.signal.aborted) return 'vpcepd stopping';
      return await this.post(target, m);
    } finally {
      // the slot passes to the next waiting attempt, or is freed
      const next = slot.waiting.shift();
      if (next) next();
      else if (--slot.busy === 0) this.slots.delete(url);
    }
  }

  /**
   * One attempt: the answer's status, or why there was none. Its own controller, aborted by a timer
   * this attempt holds (cleared when it ends) or by close(): fetch follows the signal it is given
   * through a weak reference, so a signal nothing else held (AbortSignal.any over a timeout) was
   * collected by the next GC and its timeout never reached the request, which then waited on a
   * webhook that never answers for good, its socket with it (nodejs/node#55428).
   */
  private async post(target: WebhookTarget, m: WebhookMessage): Promise<number | string> {
    const { attemptTimeoutMs } = this.retry;
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(new DOMException(`no answer in ${attemptTimeoutMs} ms`, 'TimeoutError')), attemptTimeoutMs);
    const closing = this.closing.signal;
    const cut = () => attempt.abort(closing.reason);
    closing.addEventListener('abort', cut);
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': m.contentType, ...m.headers, ...(target.authorization ? { authorization: target.authorization } : {}) },
        body: m.body,
        redirect: 'manual',
        signal: attempt.signal,
      });
      // the body is not wanted: a huge or endless one is not read
      await res.body?.cancel().catch(() => undefined);
      return res.status;
    } catch (err) {
      return whyNoAnswer(err, attemptTimeoutMs);
    } finally {
      clearTimeout(timer);
      closing.removeEventListener('abort', cut);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const signal = this.closing.signal;
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }
}

/** where a topic's messages go: its URL without credentials, and those as Basic auth */
interface WebhookTarget {
  readonly url: string;
  readonly authorization?: string;
  /** the URL as logged: its password left out */
  readonly shown: string;
}

/**
 * A webhook URL with `user:password@` (SNS's HTTP/HTTPS subscriptions take one, and send it as
 * Basic authentication): fetch refuses a URL with credentials, so they go in the header.
 */
export function webhookTarget(text: string): WebhookTarget {
  const u = new URL(text);
  if (u.username === '' && u.password === '') return { url: text, shown: text };
  // the user and password as written in the URL (the parser's have = ; space and more escaped: with a
  // `%` that starts no escape they could not be decoded back), their escapes decoded, a stray `%` kept
  // the parser takes any number of slashes or backslashes after the scheme (http:\\u:p@host)
  // and reads the text as the URL standard says: without its tabs and line breaks, trimmed of C0
  // controls and spaces (`u\tx:p@` is the user ux)
  const written = text.replace(/[\t\n\r]/g, '').replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');
  const userinfo = /^[a-z][a-z0-9+.-]*:[/\\]*([^/\\?#]*)@/i.exec(written)?.[1] ?? `${u.username}:${u.password}`;
  const colon = userinfo.indexOf(':');
  const credentials = colon < 0 ? `${percentDecodedLeniently(userinfo)}:`
    : `${percentDecodedLeniently(userinfo.slice(0, colon))}:${percentDecodedLeniently(userinfo.slice(colon + 1))}`;
  if (u.password !== '') u.password = '***';
  const shown = u.href;
  u.username = '';
  u.password = '';
  return { url: u.href, authorization: `Basic ${Buffer.from(credentials).toString('base64')}`, shown };
}

/** a failed attempt in words: fetch's own message ("fetch failed") says nothing; its cause says what the peer did */
function whyNoAnswer(err: unknown, timeoutMs: number): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return `no answer in ${timeoutMs} ms`;
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${err.message}: ${typeof code === 'string' && !cause.message.includes(code) ? `${code} ` : ''}${cause.message}`;
  }
  return err.message;
}
