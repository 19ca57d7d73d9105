// The JS relay: Node sockets both ways, piped. One Connection object per client, every field set
// in the constructor, handlers at module level (no closures per connection), no throwing: a
// failure is a reason on the connection, counted once when it closes. Used when the native relay
// is not built or VPCEP_RELAY=js.
import fs from 'node:fs';
import net, { type Socket } from 'node:net';
import type { RefusalReason } from './admission.js';
import { shaping, Throttle } from './bandwidth.js';
import { peerIp } from '../net/loopback.js';
import { clampSocketBuffers } from './native-relay.js';
import type { ToxicLink } from './toxics/link.js';
import { LISTEN_BACKLOG, Phase, type BackendTarget, type ByteCounts, type CloseReason, type ConnectionOwner, type ListenerSink, type LiveConnection, type PendingClient, type RouteKey, type TcpListener } from './connection.js';

const CONN = Symbol('vpcep.connection');

/** SO_RCVBUF/SO_SNDBUF of the relay's sockets (dataplane.socket_buffer_bytes); 0: the kernel autotunes */
let socketBuffer = 0;

export function setJsSocketBuffer(bytes: number): void {
  socketBuffer = bytes;
}

/** libuv's stream handle of a Node socket (its reading state and switches), or null */
interface StreamHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

function handleOf(s: Socket): StreamHandle | null {
  return (s as unknown as { _handle?: StreamHandle | null })._handle ?? null;
}

/** the fd of a Node socket or server (libuv's, on Unix), or -1 */
function fdOf(o: Socket | net.Server): number {
  return (o as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
}
type Tagged = Socket & { [CONN]: Connection };

/** the zero-byte write that probes a half-closed client (it fails with EPIPE once the client reset) */
const NOTHING = Buffer.alloc(0);

/** how many source ports a connect tries before it counts as snat_exhausted */
const SNAT_PORT_TRIES = 4;

/** checks, 5 ms apart, for a released connection's bytes to settle before it goes back to splice */
const RELEASE_TRIES = 1_000;

/**
 * Resets S (an RST, not a FIN). Node's resetAndDestroy() fails while the socket's FIN is being sent
 * (libuv refuses to reset a stream whose shutdown request is pending: EINVAL) and then lets go of the
 * handle without closing it: the descriptor leaks and 'close' never comes, so the connection never
 * ends and keeps its slot (a cut just after the peer's FIN was passed on, or a reset just after a
 * half-close). Nothing is left to write once Node asks for the shutdown, so it completes within a
 * turn of the loop: such a socket is reset then.
 */
export function resetSocket(s: Socket): void {
  if (s.writableEnded && !s.writableFinished && s.writableLength === 0 && !s.destroyed) {
    s.once('finish', resetNow);
    return;
  }
  s.resetAndDestroy();
}

function resetNow(this: Socket): void {
  this.resetAndDestroy();
}

export class Connection implements LiveConnection {
  readonly client: Socket;
  backend: Socket;
  readonly owner: ConnectionOwner;
  readonly listenPort: number;
  phase: Phase;
  /** when the connect attempt started (performance.now(), for the connect time) */
  readonly startedAt: number;
  /** when the connect attempt must end, on the data plane's clock (ms) */
  readonly deadline: number;
  lastActive: number;
  failure: RefusalReason | null;
  closeReason: CloseReason | null;
  /** the SNAT source port of this connection (from its endpoint's pool) */
  snatPort: number;
  /** how a gateway connection was routed, to re-check it when the routes change; null otherwise */
  readonly route: RouteKey | null;
  private closedSockets: number;
  private portTries: number;
  private readonly preamble: Buffer | null;
  private readonly target: BackendTarget;
  /** any data since the sweep last asked */
  dataSeen: boolean;
  /** the toxics of its scopes (README "Fault injection"): relayed through them instead of pipe(); null: none */
  private toxics: ToxicLink | null;
  /** the bandwidth limit's buckets, client -> backend and back; null: no limit (src/dataplane/bandwidth.ts) */
  up: Throttle | null;
  down: Throttle | null;
  /** told when its last toxic is removed (a native connection handed over goes back: native-connection.ts); null: it stays */
  onBare: (() => void) | null;

  /**
   * ADOPTED: a backend socket already connected (a native connection handed over to the toxic
   * path, native-connection.ts): no connect, relayed at once through TOXICS.
   */
  constructor(owner: ConnectionOwner, client: Socket, listenPort: number, target: BackendTarget, now: number, connectTimeoutMs: number, snatPort: number, route: RouteKey | null, toxics: ToxicLink | null = null, adopted: Socket | null = null) {
    this.client = client;
    this.owner = owner;
    this.listenPort = listenPort;
    this.phase = Phase.Connecting;
    this.startedAt = performance.now();
    this.deadline = now + connectTimeoutMs;
    this.dataSeen = false;
    this.up = null;
    this.down = null;
    this.onBare = null;
    this.lastActive = now;
    this.failure = null;
    this.closeReason = null;
    this.snatPort = snatPort;
    this.route = route;
    this.closedSockets = 0;
    this.portTries = 1;
    this.preamble = target.preamble;
    this.target = target;
    this.toxics = toxics;
    (client as Tagged)[CONN] = this;
    client.on('error', onSocketError);
    client.on('close', onSocketClose);
    client.on('data', onData);
    client.setNoDelay(true);
    // The client stays paused (pauseOnConnect) until the backend is connected.
    this.backend = adopted === null ? this.connectBackend() : this.adopt(adopted);
  }

  private adopt(b: Socket): Socket {
    this.phase = Phase.Open;
    b.setNoDelay(true);
    (b as Tagged)[CONN] = this;
    b.on('error', onSocketError);
    b.on('close', onSocketClose);
    b.on('data', onData);
    return b;
  }

  /** the adopted connection's relay starts (after the bytes the native relay held are written) */
  startAdopted(): void {
    this.toxics?.start(this);
  }

  get plain(): boolean {
    return this.toxics === null && this.phase !== Phase.Closed;
  }

  /**
   * Leaves pipe() for the toxics' pumps: unpipe() drops no chunk (a chunk is in a socket's
   * readable buffer or already written to the other side), the pumps resume both sources and take
   * what is buffered first, in order; a side already ended has passed its FIN on (pipe's end()).
   */
  toxify(link: ToxicLink): void {
    if (!this.plain) return link.stop();
    this.toxics = link;
    // connecting: open() starts the pumps
    if (this.phase !== Phase.Open) return;
    this.client.unpipe(this.backend);
    this.backend.unpipe(this.client);
    link.start(this);
  }

  /**
   * Kernel SNAT binds the source explicitly (address and port): an implicit bind would not reuse
   * ports still in TIME_WAIT and would run an address's ports dry under churn.
   */
  private connectBackend(): Socket {
    const t = this.target;
    const b = net.connect(t.localAddress
      ? { host: t.host, port: t.port, localAddress: t.localAddress, localPort: t.bindPoolPort ? this.snatPort : 0, allowHalfOpen: true }
      : { host: t.host, port: t.port, allowHalfOpen: true });
    b.setNoDelay(true);
    (b as Tagged)[CONN] = this;
    b.on('connect', onBackendConnect);
    b.on('error', onSocketError);
    b.on('close', onSocketClose);
    b.on('data', onData);
    return b;
  }

  /** were bytes moved since the last call (read and cleared by the idle sweep) */
  takeActivity(): boolean {
    const seen = this.dataSeen;
    this.dataSeen = false;
    return seen;
  }

  get remoteAddress(): string {
    return this.client.remoteAddress ?? '';
  }

  get sourcePort(): number {
    return this.snatPort;
  }

  /** the source port is held by another socket: try the pool's next one, a few times */
  retryPort(): boolean {
    if (this.portTries >= SNAT_PORT_TRIES || this.phase !== Phase.Connecting || !this.target.bindPoolPort) return false;
    const port = this.owner.nextSnatPort(this);
    if (port === 0) return false;
    this.portTries++;
    this.snatPort = port;
    const old = this.backend;
    old.removeListener('close', onSocketClose);
    old.removeListener('error', onSocketError);
    old.on('error', ignore);
    old.destroy();
    this.backend = this.connectBackend();
    // the buckets follow the new backend socket (nothing was relayed yet)
    if (this.up !== null) {
      this.up = new Throttle(this.client, this.backend, this.up.rate);
      this.down = new Throttle(this.backend, this.client, this.up.rate);
    }
    return true;
  }

  /** the bandwidth limit of both directions, bytes/s (0: none), live */
  shape(rate: number): void {
    if (this.phase === Phase.Closed) return;
    if (rate > 0 && this.up === null) shaping.limitedConnections++;
    if (rate === 0 && this.up !== null) shaping.limitedConnections--;
    if (rate === 0) {
      this.up?.lift();
      this.down?.lift();
      this.up = this.down = null;
    } else if (this.up === null || this.down === null) {
      this.up = new Throttle(this.client, this.backend, rate);
      this.down = new Throttle(this.backend, this.client, rate);
    } else {
      this.up.setRate(rate);
      this.down.setRate(rate);
    }
  }

  /** ends the connection now with a reset to the client (reject, delete, a removed port or route) */
  cut(as: 'cut' | 'unhealthy' = 'cut'): void {
    if (this.phase === Phase.Closed) return;
    this.closeReason ??= as;
    resetSocket(this.client);
    this.backend.destroy();
  }

  /** a graceful close after the idle timeout */
  closeIdle(): void {
    this.closeReason ??= 'idle';
    this.client.destroy();
    this.backend.destroy();
  }

  probe(): void {
    if (this.phase !== Phase.Open) return;
    const c = this.client;
    if (c.readableEnded && !c.writableEnded && !c.destroyed) c.write(NOTHING);
    // Likewise a backend that sent its FIN and then reset: unread, its reset went unheard, and the
    // connection held its slot while the client's bytes went nowhere (the native relay hears it).
    const b = this.backend;
    if (b.readableEnded && !b.writableEnded && !b.destroyed) b.write(NOTHING);
  }

  fail(reason: RefusalReason): void {
    if (this.failure !== null || this.phase !== Phase.Connecting) return;
    this.failure = reason;
    this.closeReason ??= 'backend_failed';
    this.owner.onBackendFailed(this, reason);
    resetSocket(this.client);
    this.backend.destroy();
  }

  open(elapsedSeconds: number): void {
    this.phase = Phase.Open;
    this.owner.onBackendConnected(this, elapsedSeconds);
    if (this.preamble) this.backend.write(this.preamble);
    if (this.toxics !== null) return this.toxics.start(this);
    // pipe() carries backpressure both ways and ends the other side on a FIN (half-close).
    this.client.pipe(this.backend);
    this.backend.pipe(this.client);
  }

  linkBare(): void {
    this.onBare?.();
  }

  /**
   * Lets go of both sockets (its last toxic removed; a native connection goes back to splice):
   * stops reading both (what the streams buffered passes on through the pumps), waits until
   * nothing is buffered or queued either way, then hands copies of both descriptors (DUP) to
   * DONE and closes its own: the connection lives on in the copies, no FIN, no RST. Gives up
   * (reads again) when a toxic comes back, it closes, or it does not settle within 5 s.
   */
  release(dup: (fd: number) => number, done: (clientFd: number, backendFd: number) => void): void {
    const link = this.toxics;
    const sides = [this.client, this.backend];
    const handles = sides.map(handleOf);
    if (link === null || this.phase !== Phase.Open || handles.some((h) => h === null)) return;
    // `reading` stays true: the stream's _read() does not start the handle again
    for (const h of handles) {
      h!.readStop();
      h!.reading = true;
    }
    const resume = () => {
      if (this.phase !== Phase.Closed) for (const h of handles) h!.readStart();
    };
    let tries = 0;
    const check = () => {
      if (this.phase !== Phase.Open || this.toxics !== link) return resume();
      // a byte still in a toxic's delay, or in a stream's buffers: wait for it (a loaded machine takes a while)
      if (!link.idle || !sides.every((s) => s.readableLength === 0 && s.writableLength === 0 && !s.destroyed)) {
        if (++tries > RELEASE_TRIES) return resume();
        setTimeout(check, 5);
        return;
      }
      const fds = sides.map((s) => dup(fdOf(s)));
      if (fds.some((fd) => fd < 0)) {
        for (const fd of fds) if (fd >= 0) fs.closeSync(fd);
        return resume();
      }
      this.toxics = null;
      this.phase = Phase.Closed;
      link.stop();
      for (const s of sides) {
        s.removeAllListeners();
        s.on('error', ignore);
        s.destroy();
      }
      done(fds[0]!, fds[1]!);
    };
    setImmediate(check);
  }

  /** a toxic closes the connection (timeout, limit_data): a FIN each way once written data is flushed */
  toxicClose(): void {
    this.client.destroySoon();
    this.backend.destroySoon();
  }

  /** reset_peer: both sides reset */
  toxicReset(): void {
    this.closeReason ??= 'cut';
    resetSocket(this.client);
    resetSocket(this.backend);
  }

  /** bytes read from the client so far */
  get receivedBytes(): number {
    return this.client.bytesRead;
  }

  /** bytes written to the client so far */
  get sentBytes(): number {
    return this.client.bytesWritten;
  }

  addBytes(to: ByteCounts): void {
    to.received += this.client.bytesRead;
    to.sent += this.client.bytesWritten;
  }

  socketClosed(): void {
    if (++this.closedSockets < 2) {
      // One side is gone: once it is closed, the other has nothing more to exchange.
      if (this.client.destroyed && !this.backend.destroyed) {
        if (this.phase === Phase.Connecting) this.backend.destroy();
        // A client that reset (even after its FIN) takes nothing more: the backend is reset too.
        else if (!this.client.readableEnded || this.client.errored) resetSocket(this.backend);
      } else if (this.backend.destroyed && !this.client.destroyed) {
        if (!this.backend.readableEnded) resetSocket(this.client);
        // A backend gone after its FIN (it reset) takes nothing more either: the client gets what
        // it sent, then the close, as from the native relay. Left open, the client's later bytes
        // went nowhere while the connection held its slot until the client left.
        else if (!this.client.readableEnded) this.client.destroySoon();
      }
      return;
    }
    this.phase = Phase.Closed;
    this.toxics?.stop();
    if (this.up !== null) {
      shaping.limitedConnections--;
      this.up.stop();
      this.down!.stop();
    }
    this.closeReason ??= 'done';
    this.owner.onClosed(this);
  }
}

function onBackendConnect(this: Tagged): void {
  if (socketBuffer > 0) clampSocketBuffers(fdOf(this), socketBuffer);
  const c = this[CONN];
  c.open((performance.now() - c.startedAt) / 1000);
}

function onData(this: Tagged, chunk: Buffer): void {
  const c = this[CONN];
  c.dataSeen = true;
  if (c.up !== null) (this === c.client ? c.up : c.down!).charge(chunk.length);
}

function ignore(): void {}

function onSocketError(this: Tagged, err: NodeJS.ErrnoException): void {
  const c = this[CONN];
  if (c.phase === Phase.Connecting && this === c.backend) {
    if (err.code === 'EADDRINUSE' && c.retryPort()) return;
    c.fail(reasonOf(err));
  }
  c.closeReason ??= this === c.client ? 'client_reset' : 'backend_reset';
  // Otherwise the socket is destroyed by Node; 'close' follows and socketClosed() tidies up.
}

function onSocketClose(this: Tagged): void {
  this[CONN].socketClosed();
}

/** the refusal reason of a failed backend connect */
export function reasonOf(err: NodeJS.ErrnoException): RefusalReason {
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'backend_unreachable';
    case 'ETIMEDOUT':
      return 'backend_timeout';
    case 'EADDRNOTAVAIL':
    case 'EADDRINUSE':
      return 'snat_exhausted';
    case 'EMFILE':
    case 'ENFILE':
      return 'fd_limit';
    default:
      return 'backend_error';
  }
}

/** A client accepted by a Node listener (paused until its backend is connected). */
class SocketClient implements PendingClient {
  /** parsed once, on accept: Node reports the peer as text */
  readonly remoteIp: number;

  constructor(private readonly socket: Socket) {
    this.remoteIp = peerIp(socket.remoteAddress ?? '');
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

  reset(): void {
    this.socket.on('error', ignore);
    this.socket.resetAndDestroy();
  }

  relay(owner: ConnectionOwner, listenPort: number, target: BackendTarget, now: number, connectTimeoutMs: number, snatPort: number, route: RouteKey | null, toxics: ToxicLink | null): LiveConnection {
    return new Connection(owner, this.socket, listenPort, target, now, connectTimeoutMs, snatPort, route, toxics);
  }
}

/** a Node listener on host:port; rejects with the bind error (err.code: EADDRINUSE, ...) */
export function listenNode(host: string, port: number, sink: ListenerSink): Promise<TcpListener> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  server.on('connection', (socket: Socket) => {
    // One client that throws is reset and counted; the daemon and the other clients go on.
    try {
      sink.onClient(new SocketClient(socket));
    } catch (err) {
      socket.resetAndDestroy();
      sink.onAcceptError('error', err);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: LISTEN_BACKLOG, exclusive: true }, () => {
      server.removeListener('error', reject);
      // Accepted sockets inherit the listener's buffer sizes.
      if (socketBuffer > 0) clampSocketBuffers(fdOf(server), socketBuffer);
      // After the bind, accept errors (EMFILE, ...) are counted, never fatal.
      server.on('error', (err: NodeJS.ErrnoException) => sink.onAcceptError(err.code === 'EMFILE' || err.code === 'ENFILE' ? 'fd_limit' : 'backend_error'));
      resolve({ close: () => server.close() });
    });
  });
}

