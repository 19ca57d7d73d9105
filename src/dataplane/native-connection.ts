// Connections carried by the native relay: accepted by the addon, admitted here, connected and
// relayed by the addon's threads. No Node socket exists for them; this object keeps what the
// endpoint counts (phase, failure, bytes) and forwards cuts and idle closes by id.
import net from 'node:net';
import { intToIp, ipToInt } from '../net/cidr.js';
import type { RefusalReason } from './admission.js';
import { shaping } from './bandwidth.js';
import { LISTEN_BACKLOG, Phase, type BackendTarget, type ByteCounts, type CloseReason, type ConnectionOwner, type FastOpened, type ListenerSink, type LiveConnection, type PendingClient, type RouteKey, type TcpListener } from './connection.js';
import { Connection } from './js-relay.js';
import type { ToxicLink } from './toxics/link.js';
import type { NativeAcceptor, NativeReason, NativeRelay, NativeSink } from './native-relay.js';

/** how the native relay's closes count; its other reasons are failed backend connects (refusals) */
const CLOSED_BY: Partial<Record<NativeReason, CloseReason>> = {
  done: 'done', client_reset: 'client_reset', backend_reset: 'backend_reset', cut: 'cut', closed: 'idle', error: 'error',
};

export class NativeConnection implements LiveConnection, NativeSink {
  readonly owner: ConnectionOwner;
  readonly listenPort: number;
  phase: Phase;
  readonly deadline: number;
  lastActive: number;
  failure: RefusalReason | null;
  closeReason: CloseReason | null;
  /** the close reason the first cut asked for (the addon reports every cut as `cut`); null: not cut */
  private cutAs: 'cut' | 'unhealthy' | null;
  readonly snatPort: number;
  readonly route: RouteKey | null;
  private readonly relay: NativeRelay;
  private readonly id: number;
  private readonly clientIp: number;
  /** the relay's final byte counts, once closed */
  private received: number;
  private sent: number;
  /** has a bandwidth limit (counted in shaping.limitedConnections while open) */
  private limited: boolean;
  /** opened by a relay thread (the fast path): its SNAT port is the thread pool's */
  readonly threadPort: boolean;

  /** FD: the accepted client to open, or ADOPTED: the id of a connection a relay thread opened (fd and target unused) */
  constructor(relay: NativeRelay, owner: ConnectionOwner, fd: number, clientIp: number, listenPort: number, target: BackendTarget | null, now: number, connectTimeoutMs: number, snatPort: number, route: RouteKey | null, adopted = 0) {
    this.owner = owner;
    this.listenPort = listenPort;
    this.phase = Phase.Connecting;
    this.deadline = now + connectTimeoutMs;
    this.lastActive = now;
    this.failure = null;
    this.closeReason = null;
    this.cutAs = null;
    this.snatPort = snatPort;
    this.route = route;
    this.relay = relay;
    this.clientIp = clientIp;
    this.received = 0;
    this.sent = 0;
    this.limited = false;
    this.threadPort = adopted !== 0;
    if (target === null) {
      this.id = adopted;
      relay.adopt(adopted, this);
      return;
    }
    const source = target.localAddress ? ipToInt(target.localAddress) : 0;
    this.id = relay.open(fd, ipToInt(target.host), target.port, source, target.bindPoolPort ? snatPort : 0, target.preamble, this);
  }

  takeActivity(): boolean {
    return this.relay.touched(this.id);
  }

  get remoteAddress(): string {
    return intToIp(this.clientIp);
  }

  get receivedBytes(): number {
    return this.phase === Phase.Closed ? this.received : this.relay.bytes(this.id)?.received ?? this.received;
  }

  get sentBytes(): number {
    return this.phase === Phase.Closed ? this.sent : this.relay.bytes(this.id)?.sent ?? this.sent;
  }

  addBytes(to: ByteCounts): void {
    const live = this.phase === Phase.Closed ? null : this.relay.bytes(this.id);
    to.received += live?.received ?? this.received;
    to.sent += live?.sent ?? this.sent;
  }

  cut(as: 'cut' | 'unhealthy' = 'cut'): void {
    if (this.phase === Phase.Closed) return;
    this.cutAs ??= as;
    this.relay.cut(this.id);
  }

  /** the relay thread's token buckets take the new rate (bytes/s, 0: none), live */
  shape(rate: number): void {
    if (this.phase === Phase.Closed) return;
    if (rate > 0 !== this.limited) shaping.limitedConnections += rate > 0 ? 1 : -1;
    this.limited = rate > 0;
    this.relay.shape(this.id, rate);
  }

  fail(reason: RefusalReason): void {
    if (this.failure !== null || this.phase !== Phase.Connecting) return;
    this.failure = reason;
    this.owner.onBackendFailed(this, reason);
    this.relay.cut(this.id);
  }

  closeIdle(): void {
    if (this.phase !== Phase.Closed) this.relay.close(this.id);
  }

  /** the relay's threads hear a half-closed client's reset themselves */
  probe(): void {}

  relayConnected(seconds: number): void {
    if (this.phase !== Phase.Connecting || this.failure !== null) return;
    this.phase = Phase.Open;
    this.owner.onBackendConnected(this, seconds);
  }

  relayClosed(received: number, sent: number, reason: NativeReason): void {
    if (this.phase === Phase.Closed) return;
    const closedBy = CLOSED_BY[reason];
    if (closedBy === undefined && this.failure === null) {
      this.failure = reason as RefusalReason;
      this.owner.onBackendFailed(this, this.failure);
    }
    this.closeReason = this.failure !== null ? 'backend_failed' : closedBy === 'cut' ? this.cutAs ?? 'cut' : closedBy ?? 'error';
    this.received = received;
    this.sent = sent;
    this.phase = Phase.Closed;
    if (this.limited) shaping.limitedConnections--;
    this.owner.onClosed(this);
  }
}

/** A client the addon accepted: its fd is ours until relayed or reset. */
class NativeClient implements PendingClient {
  constructor(private readonly native: NativeRelay, private readonly fd: number, readonly remoteIp: number, readonly remotePort: number) {}

  get remoteAddress(): string {
    return intToIp(this.remoteIp);
  }

  reset(): void {
    this.native.reset(this.fd);
  }

  relay(owner: ConnectionOwner, listenPort: number, target: BackendTarget, now: number, connectTimeoutMs: number, snatPort: number, route: RouteKey | null, toxics: ToxicLink | null): LiveConnection {
    // A connection some toxic's scope covers leaves splice(2): its descriptor becomes a Node socket
    // (paused until the backend connects) relayed by the JS relay through its toxics.
    if (toxics !== null) {
      this.native.release(this.fd);
      const socket = new net.Socket({ fd: this.fd, allowHalfOpen: true, pauseOnCreate: true } as net.SocketConstructorOpts);
      return new Connection(owner, socket, listenPort, target, now, connectTimeoutMs, snatPort, route, toxics);
    }
    return new NativeConnection(this.native, owner, this.fd, this.remoteIp, listenPort, target, now, connectTimeoutMs, snatPort, route);
  }
}

/** a listener whose connections the addon accepts; throws the bind error (err.code: EADDRINUSE, ...) */
export function listenNative(native: NativeRelay, host: string, port: number, sink: ListenerSink): TcpListener {
  const acceptor: NativeAcceptor = {
    accepted: (fd, ip, remotePort) => sink.onClient(new NativeClient(native, fd, ip, remotePort)),
    outOfDescriptors: () => sink.onAcceptError('fd_limit'),
    failed: (err) => sink.onAcceptError('error', err),
    fastOpened: (id, ip, remotePort, snatPort, target, choiceReason) => {
      const opened: FastOpened = {
        remoteIp: ip, remotePort, snatPort, target, choiceReason,
        adopt: (owner, listenPort, now, connectTimeoutMs) => new NativeConnection(native, owner, -1, ip, listenPort, null, now, connectTimeoutMs, snatPort, null, id),
      };
      if (sink.onFastOpened) sink.onFastOpened(opened);
      else native.cut(id);
    },
    fastRefused: (code, ip, remotePort, target, choiceReason) => sink.onFastRefused?.(code, ip, remotePort, target, choiceReason),
  };
  const id = native.listen(ipToInt(host), port, LISTEN_BACKLOG, acceptor);
  return {
    close: () => native.unlisten(id),
    fast: {
      compile: (endpoint, rules, preamble) => native.fastListen(id, endpoint, rules, preamble),
      off: () => { native.fastListen(id, 0, null, null); },
    },
  };
}
