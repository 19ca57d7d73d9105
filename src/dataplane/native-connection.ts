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
import type { Detached, NativeAcceptor, NativeReason, NativeRelay, NativeSink } from './native-relay.js';

/** how the native relay's closes count; its other reasons are failed backend connects (refusals) */
const CLOSED_BY: Partial<Record<NativeReason, CloseReason>> = {
  done: 'done', client_reset: 'client_reset', backend_reset: 'backend_reset', cut: 'cut', closed: 'idle', error: 'error',
};

/** an adopted connection's target: connected already, its preamble sent (or in the bytes handed over) */
const ADOPTED: BackendTarget = { host: '', port: 0, localAddress: undefined, bindPoolPort: false, preamble: null };

/**
 * A connection of the native relay. When a toxic added live applies to it (issue 15), the relay
 * thread lets it go (detach) and it continues on the JS relay's toxic path as `js`, this object
 * still the one its endpoint counts.
 */
export class NativeConnection implements LiveConnection, NativeSink, ConnectionOwner {
  readonly owner: ConnectionOwner;
  readonly listenPort: number;
  phase: Phase;
  readonly deadline: number;
  lastActive: number;
  failure: RefusalReason | null;
  closeReason: CloseReason | null;
  /** the close reason the first cut asked for (the addon reports every cut as `cut`); null: not cut */
  private cutAs: 'cut' | 'unhealthy' | null;
  readonly route: RouteKey | null;
  private readonly relay: NativeRelay;
  /** the SNAT source port it was admitted with (the JS relay's own while it connects: it may try another) */
  private admittedPort: number;
  /** its id on the relay (a new one when it comes back from the toxic path) */
  private id: number;
  private readonly clientIp: number;
  /** bytes of the relay segments before the current one (native, JS, native again...); the totals once closed */
  private received: number;
  private sent: number;
  /** has a bandwidth limit (counted in shaping.limitedConnections while open) */
  private limited: boolean;
  /** the bandwidth limit (bytes/s, 0: none), for the JS relay once handed over */
  private rate: number;
  /** the toxics it is being handed over to (detach asked, or asked once connected); null: none */
  private handover: ToxicLink | null;
  /** handed over: the JS relay carries it through its toxics; null: the native relay does */
  private js: Connection | null;
  /** an idle close asked while the relay was letting it go */
  private idleWanted: boolean;
  /** the toxify() caller waiting for the relay thread to let it go (its hand-over done, or its close) */
  private handedOver: (() => void) | null;
  /** opened by a relay thread (the fast path): its SNAT port is the thread pool's */
  readonly threadPort: boolean;
  /** opened by a relay thread and handed off it (detach): the bytes it had moved there */
  offThreads: boolean;
  private threadReceived: number;
  private threadSent: number;
  /** the source port the kernel chose at connect, the pool's being held by another socket (0: the pool's) */
  private kernelPort: number;

  /**
   * FD: the accepted client to open, or ADOPTED: the id of a connection a relay thread opened (fd
   * and target unused). TOXICS: the toxics that apply to it at accept; it starts on the JS relay
   * then (its descriptor a Node socket, connected by Node) and comes to the relay threads once its
   * last toxic is removed.
   */
  constructor(relay: NativeRelay, owner: ConnectionOwner, fd: number, clientIp: number, listenPort: number, target: BackendTarget | null, now: number, connectTimeoutMs: number, snatPort: number, route: RouteKey | null, toxics: ToxicLink | null = null, adopted = 0) {
    this.owner = owner;
    this.listenPort = listenPort;
    this.phase = Phase.Connecting;
    this.deadline = now + connectTimeoutMs;
    this.lastActive = now;
    this.failure = null;
    this.closeReason = null;
    this.cutAs = null;
    this.admittedPort = snatPort;
    this.route = route;
    this.relay = relay;
    this.clientIp = clientIp;
    this.received = 0;
    this.sent = 0;
    this.limited = false;
    this.rate = 0;
    this.handover = null;
    this.js = null;
    this.idleWanted = false;
    this.handedOver = null;
    this.threadPort = adopted !== 0;
    this.offThreads = false;
    this.threadReceived = 0;
    this.threadSent = 0;
    this.kernelPort = 0;
    if (target === null) {
      this.id = adopted;
      relay.track(adopted, this);
      return;
    }
    if (toxics !== null) {
      // the listener stays the addon's; the descriptor becomes a Node socket, paused until the backend connects
      relay.release(fd);
      const socket = new net.Socket({ fd, allowHalfOpen: true, pauseOnCreate: true } as net.SocketConstructorOpts);
      this.handover = toxics;
      const js = new Connection(this, socket, listenPort, target, now, connectTimeoutMs, snatPort, route, toxics);
      js.onBare = () => this.reattach(js);
      this.js = js;
      this.id = 0;
      return;
    }
    const source = target.localAddress ? ipToInt(target.localAddress) : 0;
    this.id = relay.open(fd, ipToInt(target.host), target.port, source, target.bindPoolPort ? snatPort : 0, target.preamble, this);
  }

  get snatPort(): number {
    return this.js?.snatPort ?? this.admittedPort;
  }

  get sourcePort(): number {
    return this.kernelPort || this.snatPort;
  }

  takeActivity(): boolean {
    return this.js !== null ? this.js.takeActivity() : this.relay.touched(this.id);
  }

  get remoteAddress(): string {
    return intToIp(this.clientIp);
  }

  get receivedBytes(): number {
    if (this.js !== null && this.phase !== Phase.Closed) return this.received + this.js.receivedBytes;
    return this.phase === Phase.Closed ? this.received : this.received + (this.relay.bytes(this.id)?.received ?? 0);
  }

  get sentBytes(): number {
    if (this.js !== null && this.phase !== Phase.Closed) return this.sent + this.js.sentBytes;
    return this.phase === Phase.Closed ? this.sent : this.sent + (this.relay.bytes(this.id)?.sent ?? 0);
  }

  addBytes(to: ByteCounts): void {
    if (this.js !== null && this.phase !== Phase.Closed) {
      to.received += this.received + this.js.receivedBytes;
      to.sent += this.sent + this.js.sentBytes;
      return;
    }
    const live = this.phase === Phase.Closed ? null : this.relay.bytes(this.id);
    to.received += this.received + (live?.received ?? 0);
    to.sent += this.sent + (live?.sent ?? 0);
  }

  addBytesOffThreads(to: ByteCounts): void {
    const b = { received: 0, sent: 0 };
    this.addBytes(b);
    to.received += b.received - this.threadReceived;
    to.sent += b.sent - this.threadSent;
  }

  cut(as: 'cut' | 'unhealthy' = 'cut'): void {
    if (this.phase === Phase.Closed) return;
    this.cutAs ??= as;
    if (this.js !== null) return this.js.cut(as);
    this.relay.cut(this.id);
  }

  /** the relay thread's token buckets take the new rate (bytes/s, 0: none), live */
  shape(rate: number): void {
    if (this.phase === Phase.Closed) return;
    this.rate = rate;
    if (this.js !== null) return this.js.shape(rate);
    if (rate > 0 !== this.limited) shaping.limitedConnections += rate > 0 ? 1 : -1;
    this.limited = rate > 0;
    this.relay.shape(this.id, rate);
  }

  /** the relay thread already applies RATE (the fast path's compiled limit): counted, nothing posted */
  shapedOnThread(rate: number): void {
    if (rate <= 0) return;
    this.rate = rate;
    this.limited = true;
    shaping.limitedConnections++;
  }

  fail(reason: RefusalReason): void {
    if (this.failure !== null || this.phase !== Phase.Connecting) return;
    if (this.js !== null) return this.js.fail(reason);
    this.failure = reason;
    this.owner.onBackendFailed(this, reason);
    this.relay.cut(this.id);
  }

  closeIdle(): void {
    if (this.phase === Phase.Closed) return;
    this.idleWanted = true;
    if (this.js !== null) return this.js.closeIdle();
    this.relay.close(this.id);
  }

  /** the relay's threads hear a half-closed client's reset themselves; the JS relay probes */
  probe(): void {
    this.js?.probe();
  }

  get plain(): boolean {
    return this.handover === null && this.phase !== Phase.Closed;
  }

  /**
   * the relay thread lets it go (once connected) and it continues through LINK on the JS relay;
   * resolves once the thread let it go (or it closed), so that no byte written after the toxic's
   * API answer passes plain
   */
  toxify(link: ToxicLink): Promise<void> | void {
    if (!this.plain) return link.stop();
    this.handover = link;
    if (this.phase === Phase.Open) this.relay.detach(this.id);
    return new Promise((resolve) => {
      this.handedOver = resolve;
    });
  }

  private handedOverNow(): void {
    this.handedOver?.();
    this.handedOver = null;
  }

  relayConnected(seconds: number, kernelPort: number): void {
    if (this.phase !== Phase.Connecting || this.failure !== null) return;
    this.kernelPort = kernelPort;
    this.phase = Phase.Open;
    this.owner.onBackendConnected(this, seconds);
    if (this.handover !== null) this.relay.detach(this.id);
  }

  /**
   * Let go by the relay thread: both sockets become Node sockets (paused), the bytes its pipes
   * held are written first, then the toxics' pumps read on. A cut or idle close asked meanwhile
   * applies now. Anything that throws resets both sockets and closes it as `error`.
   */
  relayDetached(received: number, sent: number, handed: Detached | null): void {
    this.received += received;
    this.sent += sent;
    if (this.threadPort && !this.offThreads) {
      // what it moved on the thread is in its endpoint's counters there; the rest counts here
      this.offThreads = true;
      this.threadReceived = this.received;
      this.threadSent = this.sent;
    }
    // the pumps are set up synchronously below: a write after this on its way through the toxics
    queueMicrotask(() => this.handedOverNow());
    const link = this.handover!;
    if (this.phase === Phase.Closed || handed === null) {
      if (handed !== null) for (const fd of [handed.clientFd, handed.backendFd]) this.relay.reset(fd);
      return this.phase === Phase.Closed ? link.stop() : this.lost(link);
    }
    let client: net.Socket | null = null;
    let backend: net.Socket | null = null;
    try {
      client = new net.Socket({ fd: handed.clientFd, allowHalfOpen: true, pauseOnCreate: true } as net.SocketConstructorOpts);
      backend = new net.Socket({ fd: handed.backendFd, allowHalfOpen: true, pauseOnCreate: true } as net.SocketConstructorOpts);
      const js = new Connection(this, client, this.listenPort, ADOPTED, this.lastActive, 0, this.snatPort, this.route, link, backend);
      this.js = js;
      js.onBare = () => this.reattach(js);
      if (this.limited) {
        shaping.limitedConnections--;
        this.limited = false;
        js.shape(this.rate);
      }
      if (handed.forBackend.length > 0) backend.write(handed.forBackend);
      if (handed.forClient.length > 0) client.write(handed.forClient);
      js.startAdopted();
      if (this.cutAs !== null) js.cut(this.cutAs);
      else if (this.idleWanted) js.closeIdle();
    } catch {
      if (this.js !== null) return this.js.cut();
      if (client === null) this.relay.reset(handed.clientFd);
      else client.resetAndDestroy();
      if (backend === null) this.relay.reset(handed.backendFd);
      else backend.resetAndDestroy();
      this.lost(link);
    }
  }

  /**
   * Its last toxic removed: back to the native relay at full speed (splice), once the JS relay
   * has nothing pending either way; plain again (a toxic added later hands it over again).
   */
  private reattach(js: Connection): void {
    if (this.js !== js || this.phase !== Phase.Open || this.cutAs !== null || this.idleWanted) return;
    js.release((fd) => this.relay.dup(fd), (clientFd, backendFd) => {
      if (this.js !== js) return;
      this.admittedPort = js.snatPort;
      this.received += js.receivedBytes;
      this.sent += js.sentBytes;
      // the JS relay's buckets go; the relay thread's take the rate below
      if (js.up !== null) {
        shaping.limitedConnections--;
        js.up.stop();
        js.down!.stop();
        js.up = js.down = null;
      }
      this.js = null;
      this.handover = null;
      this.id = this.relay.adopt(clientFd, backendFd, this);
      if (this.rate > 0) this.shape(this.rate);
    });
  }

  /** the handover failed: closed as `error` */
  private lost(link: ToxicLink): void {
    link.stop();
    this.closeReason = 'error';
    this.phase = Phase.Closed;
    if (this.limited) shaping.limitedConnections--;
    this.owner.onClosed(this);
  }

  // ConnectionOwner of the JS relay's connection: told as this connection (one handed over live
  // is connected already: only one that started on the JS relay connects, fails or retries a port).
  onBackendConnected(_js: LiveConnection, seconds: number): void {
    if (this.phase !== Phase.Connecting) return;
    this.phase = Phase.Open;
    this.owner.onBackendConnected(this, seconds);
  }

  onBackendFailed(_js: LiveConnection, reason: RefusalReason): void {
    this.failure ??= reason;
    this.owner.onBackendFailed(this, reason);
  }

  nextSnatPort(): number {
    return this.owner.nextSnatPort(this);
  }

  /** the JS relay closed it: counted as this connection, with both relays' bytes */
  onClosed(js: LiveConnection): void {
    if (this.phase === Phase.Closed) return;
    this.received += js.receivedBytes;
    this.sent += js.sentBytes;
    this.closeReason = js.closeReason ?? 'done';
    this.phase = Phase.Closed;
    this.owner.onClosed(this);
  }

  relayClosed(received: number, sent: number, reason: NativeReason, kernelPort: number): void {
    this.handedOverNow();
    if (this.phase === Phase.Closed) return;
    if (kernelPort > 0) this.kernelPort = kernelPort;
    this.handover?.stop();
    const closedBy = CLOSED_BY[reason];
    if (closedBy === undefined && this.failure === null) {
      this.failure = reason as RefusalReason;
      this.owner.onBackendFailed(this, this.failure);
    }
    this.closeReason = this.failure !== null ? 'backend_failed' : closedBy === 'cut' ? this.cutAs ?? 'cut' : closedBy ?? 'error';
    this.received += received;
    this.sent += sent;
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
    // A connection some toxic applies to leaves splice(2) until its last toxic is removed: the JS
    // relay carries it through its toxics (NativeConnection's constructor).
    return new NativeConnection(this.native, owner, this.fd, this.remoteIp, listenPort, target, now, connectTimeoutMs, snatPort, route, toxics);
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
        adopt: (owner, listenPort, now, connectTimeoutMs, rate = 0, route = null) => {
          const c = new NativeConnection(native, owner, -1, ip, listenPort, null, now, connectTimeoutMs, snatPort, route, null, id);
          c.shapedOnThread(rate);
          return c;
        },
      };
      if (sink.onFastOpened) sink.onFastOpened(opened);
      else native.cut(id);
    },
    fastRefused: (code, ip, remotePort, target, choiceReason) => sink.onFastRefused?.(code, ip, remotePort, target, choiceReason),
    fastBrief: (ip, target, choiceReason, reason, connectSeconds) => {
      // as relayClosed() counts a connection: a reason past CLOSED_BY is a failed backend connect
      const closedBy = CLOSED_BY[reason];
      sink.onFastBrief?.({ remoteIp: ip, target, choiceReason, closed: closedBy ?? 'backend_failed', failure: closedBy === undefined ? reason as RefusalReason : null, connectSeconds });
    },
  };
  const id = native.listen(ipToInt(host), port, LISTEN_BACKLOG, acceptor);
  return {
    close: () => native.unlisten(id),
    fast: {
      compile: (endpoint, rules, preamble) => native.fastListen(id, endpoint, rules, preamble),
      off: () => { native.fastListen(id, 0, null, null); },
      route: (routes) => native.fastRoute(id, routes),
    },
  };
}
