// The embedded DNS server: UDP and TCP on one address (dns.listen), answering from the views of
// views.ts by answer.ts. TCP (RFC 7766): 2-byte length framing, several queries per connection,
// answered as they come; a connection that brings no complete query for tcpIdleTimeoutMs is
// closed, however many bytes of an unfinished one it trickles in; one that does not read its
// answers is not read either until they have gone out. With dns.forward, names under no zone of ours go to the host's resolvers
// over UDP, and again over TCP for a client asking over TCP when the UDP answer is truncated; never
// to this server itself (a loop that filled the table of queries waiting). Nothing a client sends escapes its own query: each is handled in a try/catch that
// counts it as SERVFAIL and logs once.
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { getServers } from 'node:dns';
import net from 'node:net';
import os from 'node:os';
import { listenReason } from '../net/listen-error.js';
import { reachesSocket } from '../net/loopback.js';
import { answer, rcodeOf, servfail, type AnswerOptions, type QueryKind, type Rcode } from './answer.js';
import type { DnsView, Views } from './views.js';

export interface DnsLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DnsServerOptions {
  readonly listen: { readonly host: string; readonly port: number };
  readonly ttlS: number;
  readonly forward: boolean;
  /** HOST or HOST:PORT of the resolvers forwarded to; default: the host's (/etc/resolv.conf) */
  readonly upstreams?: readonly string[];
  readonly forwardTimeoutMs: number;
  readonly tcpIdleTimeoutMs: number;
  readonly tcpMaxConnections: number;
  readonly views: Views;
  readonly log: DnsLogger;
}

/** one row of the query counters: vpcep_dns_queries_total */
export interface DnsQueryCount {
  readonly view: DnsView;
  readonly kind: QueryKind;
  readonly result: Rcode;
  readonly count: number;
}

/** forwarded queries waiting for an upstream's answer at most; more get SERVFAIL at once */
const MAX_PENDING_FORWARDS = 1024;
/** TCP connections to upstreams at once (TCP clients' queries whose UDP answer was truncated); more keep the truncated answer */
const MAX_TCP_FORWARDS = 64;
const TC = 1 << 9;

export class DnsServer {
  readonly address: { host: string; port: number };
  private readonly counts = new Map<string, number>();
  private readonly tcpSockets = new Set<net.Socket>();
  private readonly pending = new Map<number, { resolve: (b: Buffer | null) => void; timer: NodeJS.Timeout; host: string; port: number; sent: Buffer }>();
  private upstream: dgram.Socket | null = null;
  /** the resolver forwarded to (the first of dns.forwarders, else of the host's, that is not this server), or null */
  private readonly target: { host: string; port: number } | null;
  private tcpForwards = 0;
  private logged = false;
  private loopLogged = false;
  private readonly udpOptions: AnswerOptions;
  private readonly tcpOptions: AnswerOptions;

  private constructor(
    private readonly o: DnsServerOptions,
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
  ) {
    this.udpOptions = { ttlS: o.ttlS, forward: o.forward, udp: true };
    this.tcpOptions = { ttlS: o.ttlS, forward: o.forward, udp: false };
    const a = udp.address();
    this.address = { host: a.address, port: a.port };
    this.target = o.forward ? this.upstreamAddress() : null;
    if (o.forward && !this.target) o.log.warn({ forwarders: o.upstreams ?? getServers() }, 'dns: no forwarder to ask: names under no zone of ours are SERVFAIL');
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    tcp.on('connection', (s) => this.onConnection(s));
  }

  /**
   * binds UDP, then TCP on the same port; a busy address throws naming it. Port 0: an ephemeral
   * port free for both (the kernel picks UDP's; one busy over TCP is given back and another tried).
   */
  static async start(o: DnsServerOptions): Promise<DnsServer> {
    for (let attempt = 1; ; attempt++) {
      const udp = dgram.createSocket({ type: 'udp4' });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(o.listen.port, o.listen.host, () => { udp.off('error', reject); resolve(); });
        });
      } catch (err) {
        udp.close();
        throw bindError(err, o.listen.host, o.listen.port, 'UDP');
      }
      const port = udp.address().port;
      // half-open: a client may send its queries, then its FIN (shutdown(SHUT_WR)), and read the answers
      const tcp = net.createServer({ allowHalfOpen: true });
      tcp.maxConnections = o.tcpMaxConnections;
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ host: o.listen.host, port, exclusive: true }, () => { tcp.off('error', reject); resolve(); });
        });
      } catch (err) {
        udp.close();
        if (o.listen.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 20) continue;
        throw bindError(err, o.listen.host, port, 'TCP');
      }
      udp.on('error', (err) => o.log.warn({ err }, 'dns: UDP socket error'));
      tcp.on('error', (err) => o.log.warn({ err }, 'dns: TCP listener error'));
      return new DnsServer(o, udp, tcp);
    }
  }

  /** the query counters (pushed at each query) */
  queryCounts(): DnsQueryCount[] {
    const out: DnsQueryCount[] = [];
    for (const [key, count] of this.counts) {
      const [view, kind, result] = key.split('|') as [DnsView, QueryKind, Rcode];
      out.push({ view, kind, result, count });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.tcpSockets) s.destroy();
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.resolve(null); }
    this.pending.clear();
    this.upstream?.close();
    await new Promise<void>((resolve) => this.udp.close(() => resolve()));
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }

  private count(vpc: boolean, kind: QueryKind, rcode: Rcode): void {
    const key = `${vpc ? 'vpc' : 'public'}|${kind}|${rcode}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /**
   * the answer to one query, counted; null: none is sent. Synchronous unless the query is
   * forwarded (then a promise of the upstream's answer).
   */
  private resolve(query: Buffer, clientHost: string, udp: boolean): Buffer | null | Promise<Buffer> {
    try {
      const d = answer(query, clientHost, this.o.views.current(), udp ? this.udpOptions : this.tcpOptions);
      // a query we forwarded, come back byte for byte (its id ours): the upstream leads back here
      // (an address made local by a route, such as the kernel SNAT mode's, or a NAT rule); not
      // forwarded again, or it went round until the table of queries waiting was full
      if ('forward' in d && this.pending.get(query.readUInt16BE(0))?.sent.equals(query)) {
        this.count(d.vpc, 'forwarded', 'SERVFAIL');
        if (!this.loopLogged) {
          this.loopLogged = true;
          this.o.log.warn({ forwarder: this.target && `${this.target.host}:${this.target.port}` }, 'dns: a forwarded query came back to this server (a loop): SERVFAIL (logged once)');
        }
        return servfail(query);
      }
      if ('forward' in d) {
        return this.forwardQuery(query, !udp).then((answered) => {
          const reply = answered ?? servfail(query);
          this.count(d.vpc, 'forwarded', rcodeOf(reply));
          return reply;
        });
      }
      // a datagram that gets no answer (too short, a response) was answered nothing: not counted as answered
      if (d.reply !== null) this.count(d.vpc, d.kind, d.rcode);
      return d.reply;
    } catch (err) {
      this.count(false, 'malformed', 'SERVFAIL');
      if (!this.logged) {
        this.logged = true;
        this.o.log.warn({ err, client: clientHost }, 'dns: a query failed (SERVFAIL; logged once)');
      }
      return query.length >= 12 ? servfail(query.subarray(0, 12)) : null;
    }
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    // source port 0 (a raw socket's): no answer can go there, and dgram's send throws on it, which
    // crashed the daemon; dropped unread, as DNS servers drop it
    if (rinfo.port === 0) return;
    const reply = this.resolve(msg, rinfo.address, true);
    if (reply instanceof Promise) void reply.then((r) => this.udp.send(r, rinfo.port, rinfo.address), () => undefined);
    else if (reply) this.udp.send(reply, rinfo.port, rinfo.address);
  }

  private onConnection(s: net.Socket): void {
    this.tcpSockets.add(s);
    // not socket.setTimeout: any byte restarts that one, so a client sending one byte of a frame
    // every few seconds held its connection for ever, and 64 such held the listener (tcpMaxConnections)
    const idle = setTimeout(() => s.destroy(), this.o.tcpIdleTimeoutMs);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(idle);
      this.tcpSockets.delete(s);
    });
    // answers the client does not read stay in the socket's buffer: while it is over its mark, no
    // more queries are read (a client pipelining queries without reading grew the daemon by
    // hundreds of MB)
    s.on('drain', () => s.resume());
    const client = s.remoteAddress ?? '';
    let buffered: Buffer = Buffer.alloc(0);
    // the client's FIN: the connection ends once every query read has its answer (a forwarded one comes later)
    let pending = 0;
    let ended = false;
    const finish = () => {
      if (ended && pending === 0 && !s.destroyed) s.end();
    };
    s.on('end', () => {
      ended = true;
      finish();
    });
    s.on('data', (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) break;
        const query = Buffer.from(buffered.subarray(2, 2 + len));
        buffered = buffered.subarray(2 + len);
        idle.refresh();
        pending++;
        const write = (reply: Buffer | null) => {
          pending--;
          // no answer, or one the 2-byte length cannot frame (a forwarded one never is: UDP's)
          if (!reply || reply.length > 0xffff) { s.destroy(); return; }
          if (s.destroyed) return;
          const frame = Buffer.allocUnsafe(2 + reply.length);
          frame.writeUInt16BE(reply.length, 0);
          reply.copy(frame, 2);
          if (!s.write(frame)) s.pause();
          finish();
        };
        const reply = this.resolve(query, client, false);
        if (reply instanceof Promise) void reply.then(write, () => s.destroy());
        else write(reply);
      }
    });
  }

  /**
   * the upstream's answer to a query, or null (none configured, too many waiting, or no answer in
   * time). A client over TCP whose answer came truncated over UDP gets the upstream's over TCP
   * (RFC 7766 5: it was given the truncated one, TC over TCP, with no way to the rest), or the
   * truncated one when that fails.
   */
  private async forwardQuery(query: Buffer, tcp: boolean): Promise<Buffer | null> {
    const target = this.target;
    if (!target) return null;
    const answered = await this.forwardUdp(query, target);
    if (!tcp || !answered || !(answered.readUInt16BE(2) & TC) || this.tcpForwards >= MAX_TCP_FORWARDS) return answered;
    this.tcpForwards++;
    try {
      return (await this.forwardTcp(query, target)) ?? answered;
    } finally {
      this.tcpForwards--;
    }
  }

  /** the upstream's answer over TCP, its id put back, or null (refused, closed, or not in time) */
  private forwardTcp(query: Buffer, target: { host: string; port: number }): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const s = net.connect({ host: target.host, port: target.port });
      const done = (b: Buffer | null) => { clearTimeout(timer); s.destroy(); resolve(b); };
      const timer = setTimeout(() => done(null), this.o.forwardTimeoutMs);
      let got = Buffer.alloc(0);
      s.on('error', () => done(null));
      s.on('close', () => done(null));
      s.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length < 2 || got.length < 2 + got.readUInt16BE(0)) return;
        const reply = Buffer.from(got.subarray(2, 2 + got.readUInt16BE(0)));
        done(reply.length >= 12 && reply.readUInt16BE(0) === query.readUInt16BE(0) ? reply : null);
      });
      const frame = Buffer.allocUnsafe(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      s.write(frame);
    });
  }

  private forwardUdp(query: Buffer, target: { host: string; port: number }): Promise<Buffer | null> {
    if (this.pending.size >= MAX_PENDING_FORWARDS) return Promise.resolve(null);
    const socket = this.upstreamSocket();
    // a random id (RFC 5452 9.2): the next of a counter was one any process could guess and answer first
    let id = randomInt(1, 0x10000);
    while (this.pending.has(id)) id = (id % 0xffff) + 1;
    const originalId = query.readUInt16BE(0);
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(id); resolve(null); }, this.o.forwardTimeoutMs);
      this.pending.set(id, {
        timer, host: target.host, port: target.port, sent: out,
        resolve: (b) => {
          if (b) b.writeUInt16BE(originalId, 0);
          resolve(b);
        },
      });
      socket.send(out, target.port, target.host);
    });
  }

  private upstreamSocket(): dgram.Socket {
    if (this.upstream) return this.upstream;
    const s = dgram.createSocket('udp4');
    s.on('error', (err) => this.o.log.warn({ err }, 'dns: upstream socket error'));
    s.on('message', (msg, rinfo) => {
      if (msg.length < 12) return;
      const p = this.pending.get(msg.readUInt16BE(0));
      // only the resolver asked answers: any local process could send this socket a reply with the
      // right id first, and the client took its address for the name's (RFC 5452 9.1)
      if (!p || rinfo.address !== p.host || rinfo.port !== p.port) return;
      this.pending.delete(msg.readUInt16BE(0));
      clearTimeout(p.timer);
      p.resolve(msg);
    });
    this.upstream = s;
    return s;
  }

  /**
   * the first upstream that is not this server (any address of this host on our port when we
   * listen on 0.0.0.0, else our address: 127.0.0.1:5353 is 0.0.0.0:5353's socket too), each
   * skipped one logged: a query sent there came back to be forwarded again
   */
  private upstreamAddress(): { host: string; port: number } | null {
    // this host's interface addresses now (127.0.0.0/8 is this host's too)
    const local = Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).filter((n) => n.family === 'IPv4').map((n) => n.address));
    for (const text of this.o.upstreams ?? getServers()) {
      const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(text);
      if (!m) continue;
      const target = { host: m[1]!, port: Number(m[2] ?? 53) };
      if (!reachesSocket(target, this.address, local)) return target;
      this.o.log.warn({ forwarder: text, dns: `${this.address.host}:${this.address.port}` }, 'dns: a forwarder is this server (a loop): skipped');
    }
    return null;
  }
}

/** a bind failure that names the address and what to do, keeping the errno code (vpcepd prints it as is) */
function bindError(err: unknown, host: string, port: number, transport: 'UDP' | 'TCP'): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = listenReason(err, port);
  const why = code === 'EADDRINUSE' ? 'address already in use (another DNS server, or another vpcepd?)' : reason.privileged ? reason.text : (err as Error).message;
  const e = new Error(`dns.listen ${host}:${port} (${transport}): ${why}: set dns.listen (flag --dns-listen, env VPCEP_DNS_LISTEN)${reason.privileged ? '' : ' to a free address'}, or dns.enabled: false`) as NodeJS.ErrnoException;
  if (code) e.code = code;
  return e;
}
