// What one API client may cost the daemon: connections at once, requests queued per connection,
// how long a request may take, and a back-off for addresses whose connections had to be cut. The
// control API shares the event loop with data-plane admission, so a client that pipelines
// requests without reading the replies, or never finishes a body, must be stopped before it
// costs memory or time (issue 10, item 2).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../model/config.js';
import { DEFAULTS } from '../model/defaults.js';
import { DomainError } from '../model/errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { ApiRefusalReason } from '../telemetry/metrics.js';

/** the `api:` section of the config */
export type ApiLimits = Config['api'];

/** a refusal at the connection limit is logged at most this often */
const DROP_LOG_MS = 60_000;

export interface GuardOptions {
  readonly limits: ApiLimits;
  /** counts a refused or cut connection */
  refused(reason: ApiRefusalReason): void;
  /** says why a client's connection was cut or refused (a strike, the connection limit), so that a client that met a reset can learn why */
  readonly log?: Logger;
  /** the clock of the back-off (ms); tests drive it */
  readonly now?: () => number;
  /**
   * An error as a dialect writes it on a raw socket: status, content type, body and the dialect's
   * own headers (AWS's request id). `req`: the request cut while its body was read, else what
   * arrived of the head node:http refused.
   */
  answer(e: DomainError, req?: RequestHead): RawAnswer;
}

/** an error answer written outside the framework: every header the dialect's answers carry, on these too */
export interface RawAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** lower-case names */
  readonly headers?: Readonly<Record<string, string>>;
}

/** a request's method, target and headers: node's request, or what arrived of one node:http refused */
export interface RequestHead {
  readonly method?: string;
  readonly url?: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/**
 * The request line and the complete header lines of the bytes node:http refused (its
 * `err.rawPacket`: headers too large, a malformed Content-Length or Transfer-Encoding), so that
 * the refusal is answered in the dialect the request speaks; undefined when no request line came.
 */
export function rawHead(packet: Buffer | undefined): RequestHead | undefined {
  if (!packet?.length) return undefined;
  const lines = packet.toString('latin1').split('\r\n');
  const m = /^([A-Z]{1,16}) (\S{1,65536}) HTTP\/1\.[01]$/.exec(lines[0]!);
  if (!m) return undefined;
  const headers: Record<string, string> = Object.create(null);
  // the last line may be cut short: only lines a CRLF ended are read
  for (let i = 1; i < lines.length - 1 && lines[i] !== ''; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!(name in headers)) headers[name] = line.slice(colon + 1).trim();
  }
  return { method: m[1], url: m[2], headers };
}

/** what node:http's clientError means for the client: too slow, headers too large, or malformed */
export function clientErrorOf(err: Error & { code?: string }): DomainError {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new DomainError('RequestTimeout');
  if (err.code === 'HPE_HEADER_OVERFLOW') return new DomainError('HeadersTooLarge');
  return new DomainError('InvalidParameter', 'malformed HTTP request');
}

/** an error answer as the bytes of an HTTP/1.1 response that closes the connection */
function rawAnswer(a: RawAnswer): string {
  let extra = '';
  for (const [name, value] of Object.entries(a.headers ?? {})) extra += `${name}: ${value}\r\n`;
  return `HTTP/1.1 ${a.status} ${http.STATUS_CODES[a.status]}\r\nContent-Type: ${a.contentType}\r\n${extra}`
    + `Content-Length: ${Buffer.byteLength(a.body)}\r\nConnection: close\r\n\r\n${a.body}`;
}

/** an error answer on a response node:http still writes, that closes the connection */
function answerOn(res: ServerResponse, status: number, a: RawAnswer): void {
  res.writeHead(status, { ...a.headers, 'content-type': a.contentType, 'content-length': Buffer.byteLength(a.body), connection: 'close' });
  res.end(a.body);
}

/** an error answer written on the raw socket of a request node:http could not take, then closed */
export function answerRaw(socket: Socket, a: RawAnswer): void {
  if (socket.writable) socket.write(rawAnswer(a));
  socket.destroy();
}

interface Queue {
  /** requests read and not yet answered in full */
  n: number;
  paused: boolean;
  /** the last request admitted: a timeout while its body is read answers in its dialect */
  last: IncomingMessage | undefined;
  /**
   * node:http could take no more of this connection: the refusal, written once the requests
   * before it are answered (all but the one it cuts, whose body never came: CUT)
   */
  failed?: { answer: RawAnswer; cut: boolean };
}

interface Backoff {
  until: number;
  strikes: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const B = DEFAULTS.api;

export class ApiGuard {
  private readonly queues = new WeakMap<Socket, Queue>();
  private readonly backoffs = new Map<string, Backoff>();
  private readonly now: () => number;
  private lastDropLogged = -Infinity;

  constructor(private readonly o: GuardOptions) {
    this.now = o.now ?? Date.now;
  }

  /** fastify's serverFactory: node:http with the limits, and every request counted on its connection */
  readonly serverFactory = (handler: Handler): http.Server => {
    const l = this.o.limits;
    const server = http.createServer({
      requestTimeout: l.requestTimeoutMs,
      headersTimeout: l.headersTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      // node checks the two timeouts above on this period (30 s by default)
      connectionsCheckingInterval: Math.min(1_000, l.headersTimeoutMs),
      // node:http answers an HTTP/1.1 request without a Host with a bare 400: admit() answers it
      // in the API's shape instead
      requireHostHeader: false,
    }, (req, res) => this.admit(req, res, handler));
    // A client that half-closes after its request (shutdown(SHUT_WR), as `nc -N` does) still gets
    // its answer, then the close. node:http's default aborts the request at the client's FIN and
    // ends the connection: a write was applied and its answer never sent. An undocumented
    // property of node:http's Server, read at the FIN.
    (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    server.setTimeout(l.idleTimeoutMs);
    server.maxConnections = l.maxConnections;
    // node:http answers an Expect other than 100-continue with a bare 417, and closes a CONNECT
    // it has no listener for without a word: both in the API's shape instead
    server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      const e = new DomainError('InvalidParameter', `Expect: ${String(req.headers.expect).slice(0, 64)} is not supported (only 100-continue)`);
      answerOn(res, 417, this.o.answer(e, req));
    });
    server.on('connect', (req: IncomingMessage, socket: Socket) => {
      socket.on('error', () => undefined);
      socket.end(rawAnswer(this.o.answer(new DomainError('NotFound', `no such API: CONNECT ${(req.url ?? '').slice(0, 100)}`), req)));
    });
    server.on('drop', (data?: { remoteAddress?: string }) => {
      this.o.refused('max_connections');
      const t = this.now();
      // said at most once a minute: a storm of connections is one condition
      if (t - this.lastDropLogged < DROP_LOG_MS) return;
      this.lastDropLogged = t;
      this.o.log?.warn({ remote_address: data?.remoteAddress ?? null, max_connections: l.maxConnections },
        'api: a connection was refused at accept: the API has api.max_connections open (counted in vpcep_api_refused_total{reason="max_connections"})');
    });
    // An address in back-off is refused before node:http sets the connection up (a parser, its
    // listeners, timers): an attacker reconnecting at once costs an accept and a close, no more.
    const serve = server.listeners('connection') as Array<(socket: Socket) => void>;
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      const b = this.backoffs.get(socket.remoteAddress ?? '');
      if (b && this.now() < b.until) {
        this.o.refused('backoff');
        socket.destroy();
        return;
      }
      for (const listener of serve) listener.call(server, socket);
    });
    return server;
  };

  /** fastify's clientErrorHandler: a request node:http could not take, answered in the API's shape */
  readonly clientError = (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && socket.bytesRead === 0) {
      // Opened and never used: node:http times a new connection's first request from the accept,
      // and a client's pool dials ahead (Go's transport, so Terraform's AWS provider, keeps a
      // connection it dialed for a request another one served). Closed as an idle kept-alive one
      // is, quietly: a strike here refused every client of 127.0.0.1 for a second.
      socket.destroy();
      return;
    }
    const q = this.queues.get(socket);
    // node:http calls again for every later read of a connection whose parser failed
    if (q?.failed) return;
    const e = clientErrorOf(err);
    if (e.name === 'RequestTimeout') this.strike(socket, 'timeout');
    const last = q?.last;
    const cut = last && !last.complete ? last : undefined;
    const answer = this.o.answer(e, cut ?? rawHead((err as { rawPacket?: Buffer }).rawPacket));
    // Requests before the bad bytes still being answered (pipelined; the request cut while its
    // body is read is the one this answers): the refusal waits for their answers, in order.
    // Written at once, a client reads it as the answer to its first request, which may have
    // changed something.
    if (!q || q.n <= (cut ? 1 : 0)) {
      answerRaw(socket, answer);
      return;
    }
    q.failed = { answer, cut: cut !== undefined };
    socket.pause();
  };

  private admit(req: IncomingMessage, res: ServerResponse, handler: Handler): void {
    const socket = req.socket;
    // the rest of what a cut connection had sent is parsed in the same read: drop it
    if (socket.destroyed) return;
    const hostProblem = req.httpVersion === '1.1' && req.headers.host === undefined ? 'an HTTP/1.1 request must carry a Host header' : badHost(req);
    if (hostProblem !== null) {
      // RFC 9112 3.2: a server answers 400 to an HTTP/1.1 request that lacks a Host, has more than one or an invalid one
      const a = this.o.answer(new DomainError('InvalidParameter', hostProblem), req);
      answerOn(res, a.status, a);
      return;
    }
    let q = this.queues.get(socket);
    if (!q) this.queues.set(socket, (q = { n: 0, paused: false, last: undefined }));
    q.last = req;
    const queue = q;
    const max = this.o.limits.maxPipelinedRequests;
    queue.n++;
    res.once('close', () => {
      queue.n--;
      if (queue.failed) {
        // after the answers before it, which may still be in the socket's buffer: flushed, not cut
        if (queue.n === (queue.failed.cut ? 1 : 0)) {
          if (socket.writable) socket.end(rawAnswer(queue.failed.answer));
          else socket.destroy();
        }
        return;
      }
      if (queue.paused && queue.n <= max && !socket.destroyed) {
        queue.paused = false;
        socket.resume();
      }
    });
    if (queue.n > 2 * max) {
      // it keeps pushing while its replies are unread
      this.strike(socket, 'pipelining');
      socket.destroy();
      stopParsing(socket);
      return;
    }
    if (queue.n > max && !queue.paused) {
      queue.paused = true;
      socket.pause();
    }
    handler(req, res);
  }

  /** a connection cut for abuse: its address waits before it may connect again, longer each time */
  private strike(socket: Socket, reason: ApiRefusalReason): void {
    this.o.refused(reason);
    const addr = socket.remoteAddress;
    if (!addr) return;
    const t = this.now();
    const old = this.backoffs.get(addr);
    // strikes are forgotten after a quiet period as long as the longest back-off
    const strikes = old && t < old.until + B.backoffMaxMs ? old.strikes + 1 : 1;
    this.backoffs.delete(addr);
    if (this.backoffs.size >= B.backoffAddresses) this.backoffs.delete(this.backoffs.keys().next().value!);
    const refusedForMs = Math.min(B.backoffMaxMs, B.backoffMs * 2 ** (strikes - 1));
    this.backoffs.set(addr, { strikes, until: t + refusedForMs });
    // every client of that address meets a reset meanwhile (all of 127.0.0.1's, on one host): say why
    this.o.log?.warn({ remote_address: addr, reason, refused_for_ms: refusedForMs, strikes },
      'api: a connection was cut for abuse; its address is refused for a while (counted in vpcep_api_refused_total)');
  }
}

/**
 * node:http parses the whole of a read (up to 64 KiB: some 1,600 pipelined GETs) even after the
 * socket is destroyed, at some 50 µs a request. Its parser takes 2 from the headers-complete
 * callback as "stop here" (what it does for an upgrade), so the rest of a cut connection's read
 * costs nothing. An undocumented internal of node:http: where it is missing, the rest is parsed
 * and dropped by admit().
 */
function stopParsing(socket: Socket): void {
  const parser = (socket as Socket & { parser?: { onIncoming?: unknown } | null }).parser;
  if (parser && typeof parser.onIncoming === 'function') parser.onIncoming = () => 2;
}

/** `render` run at most once per `ttlMs`, whatever the request rate; callers in between share its result */
export function renderedAtMostEvery(ttlMs: number, render: () => Promise<string>, now: () => number = Date.now): () => Promise<string> {
  let at = -Infinity;
  let text: Promise<string> | null = null;
  return () => {
    const t = now();
    if (!text || t - at >= ttlMs) {
      at = t;
      const p = render();
      text = p;
      p.catch(() => { if (text === p) text = null; });
    }
    return text;
  };
}

/** RFC 3986's host (a name, an IPv4 or a bracketed IPv6 literal) and an optional port */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?$/;

/** what is wrong with a request's Host lines (RFC 9112 3.2: more than one, or an invalid value), or null */
function badHost(req: IncomingMessage): string | null {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') n++;
  if (n > 1) return 'a request must carry one Host header, not several';
  const host = req.headers.host;
  return host !== undefined && !HOST.test(host) ? 'the Host header is not a host name or address with an optional port' : null;
}
