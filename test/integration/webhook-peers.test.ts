// Connection notifications' webhooks that misbehave (src/notify/webhooks.ts), on real loopback
// sockets: a peer that never answers, answers byte by byte, answers 500 or redirects to itself,
// sends an endless body, or closes mid-answer. Each delivery ends within its attempts' timeouts,
// counted and logged once in words, and leaves no socket behind.
import net from 'node:net';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionEvent, ConnectionNotification } from '../../src/model/notifications.js';
import type { Endpoint } from '../../src/model/types.js';
import { WebhookNotifier, webhookTarget } from '../../src/notify/webhooks.js';
import { waitFor } from '../helpers.js';

// a full collection on demand, as V8 may run one at any moment of a long-running daemon
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOPIC = 'arn:aws:sns:us-east-1:111111111111:events';
const NOTIFICATION: ConnectionNotification = {
  id: 'vpce-nfn-0123456789abcdef0', owner: 'provider', service_id: 'vpce-svc-1', endpoint_id: null, topic: TOPIC,
  events: ['connect'], enabled: true, created_at: '2026-12-06T00:00:00Z', updated_at: '2026-12-06T00:00:00Z',
};
const EVENT = { event: 'connect', at: '2026-12-06T00:00:00Z', endpoint: { id: 'vpce-1', service_id: 'vpce-svc-1' } as Endpoint } as ConnectionEvent;
const RETRY = { attempts: 2, firstRetryDelayMs: 50, maxRetryDelayMs: 50, attemptTimeoutMs: 400, maxAttemptsPerWebhook: 16, maxPending: 10_000 };

/** a webhook on a real socket that answers as `answer` does; `open` counts the sockets it holds */
async function peer(answer: (socket: net.Socket) => void) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', () => answer(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    get open() { return sockets.size; },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers) await c();
  closers = [];
});

async function deliverTo(answer: (socket: net.Socket) => void, retry = RETRY, mayPublish = true, credentials = '') {
  const p = await peer(answer);
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const notifier = new WebhookNotifier({
    topics: new Map([[TOPIC, p.url.replace('//', `//${credentials}`)]]),
    notifications: () => [NOTIFICATION],
    mayPublish: () => mayPublish,
    render: () => ({ body: '{"Type":"Notification"}', contentType: 'text/plain; charset=UTF-8', headers: {} }),
    log: { warn: (obj, msg) => { warnings.push({ obj: obj as Record<string, unknown>, msg }); } },
    retry,
  });
  closers.push(() => notifier.close(), () => p.close());
  notifier.handle(EVENT);
  return { p, notifier, warnings };
}

// fetch's pool connects again to a peer whose request it cut, and closes that idle socket after its keep-alive timeout (4 s)
const SOCKETS_CLOSED_MS = 20_000;
const bothAttempts = RETRY.attempts * RETRY.attemptTimeoutMs + RETRY.maxRetryDelayMs;
/**
 * how much longer than its attempts a delivery may take to be given up: the GC forced every 50 ms
 * walks the heap of every test file this worker loaded (3.3 s was not enough in CI, four groups on
 * 2 cores); before the fix a delivery to such a webhook was never given up, however long the wait
 */
const LOADED_MS = 15_000;

/**
 * waits until the delivery is given up, V8 collecting garbage meanwhile: the timeout's signal, held
 * by nothing else, was collected and the attempt then waited for good, its socket open (one more for
 * every message to such a webhook)
 */
async function givenUpWhileCollecting(notifier: WebhookNotifier): Promise<void> {
  const collecting = setInterval(gc, 50);
  try {
    await waitFor(() => notifier.failed === 1, bothAttempts + LOADED_MS, 'the delivery given up');
  } finally {
    clearInterval(collecting);
  }
}

describe('webhooks that misbehave', () => {
  it('a webhook that never answers is given up at each attempt\'s timeout, a GC during the attempt included, and its sockets closed', async () => {
    const { p, notifier, warnings } = await deliverTo(() => undefined);
    await givenUpWhileCollecting(notifier);
    expect(notifier.retries).toBe(1);
    expect(warnings).toEqual([expect.objectContaining({ msg: 'connection notification not delivered', obj: expect.objectContaining({ last_error: `no answer in ${RETRY.attemptTimeoutMs} ms` }) })]);
    await waitFor(() => p.open === 0, SOCKETS_CLOSED_MS, "the webhook's sockets closed");
  }, 120_000);

  it('a webhook that answers one byte a second is given up at the timeout', async () => {
    const { p, notifier, warnings } = await deliverTo((s) => {
      const answer = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
      let i = 0;
      const t = setInterval(() => (i < answer.length && !s.destroyed ? s.write(answer[i++]!) : clearInterval(t)), 1_000);
      s.on('close', () => clearInterval(t));
    });
    await givenUpWhileCollecting(notifier);
    expect(notifier.delivered).toBe(0);
    expect(warnings[0]!.obj.last_error).toBe(`no answer in ${RETRY.attemptTimeoutMs} ms`);
    await waitFor(() => p.open === 0, SOCKETS_CLOSED_MS, "the webhook's sockets closed");
  }, 120_000);

  it('a topic whose policy no longer lets the account publish (aws.sns_topics[].accounts narrowed since): nothing sent, the message dropped, counted, logged (it was delivered)', async () => {
    let reached = 0;
    const { notifier, warnings } = await deliverTo((s) => { reached++; s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'); }, RETRY, false);
    expect({ failed: notifier.failed, delivered: notifier.delivered }).toEqual({ failed: 1, delivered: 0 });
    expect(warnings.map((w) => w.msg)).toEqual(['connection notification dropped: its topic no longer lets its account publish (aws.sns_topics[].accounts)']);
    await new Promise((r) => setTimeout(r, 200));
    expect(reached).toBe(0);
  });

  it('a 500, a redirect to itself, and a connection closed before the status line each fail with the reason in words', async () => {
    const cases: [(s: net.Socket) => void, RegExp][] = [
      [(s) => s.end('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 3\r\n\r\nbad'), /^HTTP 500$/],
      [(s) => s.end('HTTP/1.1 302 Found\r\nlocation: /hook\r\ncontent-length: 0\r\n\r\n'), /^HTTP 302$/],
      [(s) => s.destroy(), /^fetch failed: .+/],
    ];
    for (const [answer, reason] of cases) {
      const { p, notifier, warnings } = await deliverTo(answer);
      await waitFor(() => notifier.failed === 1, bothAttempts + LOADED_MS, 'the delivery given up');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.obj.last_error).toMatch(reason);
      expect(warnings[0]!.obj.last_error).not.toBe('fetch failed');
      await waitFor(() => p.open === 0, SOCKETS_CLOSED_MS, "the webhook's sockets closed");
    }
  }, 120_000);

  it('a webhook URL with user:password@ (as SNS takes one) gets them as Basic authentication; the password is never logged', async () => {
    // what the webhook receives: the request head, read whole
    let request = '';
    const heard = net.createServer((sock) => {
      sock.on('data', (b) => {
        request += b.toString('latin1');
        if (request.includes('\r\n\r\n')) sock.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
      });
    });
    await new Promise<void>((resolve) => heard.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => heard.close(() => resolve())));
    const notifier = new WebhookNotifier({
      topics: new Map([[TOPIC, `http://hook%20user:p%40ss@127.0.0.1:${(heard.address() as net.AddressInfo).port}/hook`]]),
      notifications: () => [NOTIFICATION],
      mayPublish: () => true,
      render: () => ({ body: '{"Type":"Notification"}', contentType: 'text/plain; charset=UTF-8', headers: {} }),
      log: { warn: () => undefined },
      retry: RETRY,
    });
    closers.push(() => notifier.close());
    notifier.handle(EVENT);
    await waitFor(() => notifier.delivered === 1, 5_000, 'delivered');
    expect(request).toMatch(/^POST \/hook HTTP\/1\.1\r\n/);
    expect(request).toMatch(new RegExp(`\r\nauthorization: Basic ${Buffer.from('hook user:p@ss').toString('base64')}\r\n`, 'i'));
    // a `%` that starts no escape (a password 100%) is sent as written (decoding it threw, outside any catch: the daemon died)
    expect(webhookTarget('http://hook:100%@127.0.0.1:9/hook').authorization).toBe(`Basic ${Buffer.from('hook:100%').toString('base64')}`);
    // and the rest of it as written too: the parser's text has = ; and a space escaped, which a stray `%` kept from being decoded back
    const basic = (url: string) => Buffer.from(webhookTarget(url).authorization!.slice('Basic '.length), 'base64').toString();
    expect(basic('http://u:s=cr;t100%@127.0.0.1:9/hook')).toBe('u:s=cr;t100%');
    expect(basic('http://us%er:pa%ss 100%@127.0.0.1:9/hook')).toBe('us%er:pa%ss 100%');
    expect(basic('http://u%20x:p%40ss%@127.0.0.1:9/hook')).toBe('u x:p@ss%');
    expect(basic('http://u:p@ss@127.0.0.1:9/hook')).toBe('u:p@ss');
    expect(basic('http://only@127.0.0.1:9/hook')).toBe('only:');
    // the URL parser takes backslashes, a capital scheme and a leading space too (the config does): the first threw, a TypeError
    expect(basic('http:\\\\u:p%@127.0.0.1:9/hook')).toBe('u:p%');
    expect(basic(' HTTP://u:p=1@127.0.0.1:9/hook')).toBe('u:p=1');
    // and drops tabs and line breaks wherever they are, as the parser does (they were sent: u\tx:p for the user ux)
    expect(basic('http://u\tx:p@127.0.0.1:9/hook')).toBe('ux:p');
    expect(basic('http://us:p\n@127.0.0.1:9/hook\r\n')).toBe('us:p');
    expect(basic('ht\ttp://u:p@127.0.0.1:9/hook')).toBe('u:p');
    expect(webhookTarget('http://hook:%ff%41@127.0.0.1:9/hook')).toMatchObject({ url: 'http://127.0.0.1:9/hook', shown: 'http://hook:***@127.0.0.1:9/hook' });
    const failing = await deliverTo((s) => s.end('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n'), RETRY, true, 'hook%20user:p%40ss@');
    await waitFor(() => failing.notifier.failed === 1, bothAttempts + LOADED_MS, 'the delivery given up');
    expect(failing.warnings).toHaveLength(1);
    expect(failing.warnings[0]!.obj).toMatchObject({ url: `http://hook%20user:***@127.0.0.1:${failing.p.port}/hook`, last_error: 'HTTP 500' });
    expect(JSON.stringify(failing.warnings)).not.toMatch(/p%40ss|p@ss/);
  }, 60_000);

  it('a 200 with an endless body is delivered without reading the body, and its socket closed', async () => {
    const { p, notifier } = await deliverTo((s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n');
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = () => { while (!s.destroyed && s.write(chunk)); };
      s.on('drain', pump);
      pump();
    });
    await waitFor(() => notifier.delivered === 1, LOADED_MS, 'the delivery');
    expect(notifier.failed).toBe(0);
    await waitFor(() => p.open === 0, SOCKETS_CLOSED_MS, "the webhook's sockets closed");
  }, 120_000);

  it('a burst to a webhook that never answers holds a few sockets, not one per message; past maxPending messages are dropped, counted, logged once', async () => {
    const retry = { ...RETRY, attempts: 1, attemptTimeoutMs: 300, maxAttemptsPerWebhook: 4, maxPending: 40 };
    const { p, notifier, warnings } = await deliverTo(() => undefined, retry);
    let peak = 0;
    const sampling = setInterval(() => { peak = Math.max(peak, p.open); }, 5);
    // deliverTo sent the first; 199 more at once (before, 200 sockets to the webhook at once)
    for (let i = 1; i < 200; i++) notifier.handle(EVENT);
    expect(notifier.failed).toBe(160);
    expect(warnings.filter((w) => w.msg.startsWith('connection notifications dropped'))).toHaveLength(1);
    try {
      await waitFor(() => notifier.failed === 200, 40 / 4 * retry.attemptTimeoutMs + LOADED_MS, 'every message given up');
    } finally {
      clearInterval(sampling);
    }
    // Four attempts at once, each cut after 300 ms. The webhook sees a cut socket close later than
    // the next attempt's opens, the more so on a loaded machine (11 at once in one CI run, four
    // test groups on 2 cores): the bound is well under the 40 sockets at once of one per message.
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(4 * retry.maxAttemptsPerWebhook);
    expect(warnings.filter((w) => w.msg === 'connection notification not delivered')).toHaveLength(40);
    await waitFor(() => p.open === 0, SOCKETS_CLOSED_MS, "the webhook's sockets closed");
  }, 120_000);
});
