// The per-connection relay: one Connection object per client, every field set in the
// constructor, handlers at module level (no closures per connection), no throwing: a failure is
// a reason on the connection, counted once when it closes.
import net, { type Socket } from 'node:net';
import type { RefusalReason } from './admission.js';
import { activeRelay, type NativeRelay, type RelayedConnection } from './native-relay.js';

const CONN = Symbol('vpcep.connection');
type Tagged = Socket & { [CONN]: Connection };

export const enum Phase {
  Connecting = 0,
  Open = 1,
  Closed = 2,
}

/** What a Connection needs from the endpoint it belongs to. */
export interface ConnectionOwner {
  /** the connect attempt finished: seconds it took */
  onBackendConnected(conn: Connection, seconds: number): void;
  /** the backend could not be reached: the client is reset and the reason counted */
  onBackendFailed(conn: Connection, reason: RefusalReason): void;
  /** another SNAT source port when the one tried is held by a socket elsewhere, or 0 */
  nextSnatPort(conn: Connection): number;
  /** both sockets are closed */
  onClosed(conn: Connection): void;
}

/** the inputs of a gateway connection's route decision */
export interface RouteKey {
  readonly vpcId: string;
  readonly sourceIp: number;
  readonly destinationIp: number;
  readonly destinationPort: number;
}

export interface BackendTarget {
  readonly host: string;
  readonly port: number;
  /** the source address to bind (kernel SNAT), or undefined */
  readonly localAddress: string | undefined;
  /** with localAddress: bind the connection's pool port (kernel SNAT), else let the kernel pick */
  readonly bindPoolPort: boolean;
  /** bytes to send to the backend before any payload (a PROXY v2 header), or null */
  readonly preamble: Buffer | null;
}

/** how many source ports a connect tries before it counts as snat_exhausted */
const SNAT_PORT_TRIES = 4;

export class Connection implements RelayedConnection {
  readonly client: Socket;
  backend: Socket;
  readonly owner: ConnectionOwner;
  readonly listenPort: number;
  phase: Phase;
  /** when the connect attempt started and must end, on the coarse clock (ms) */
  readonly startedAt: number;
  readonly deadline: number;
  lastActive: number;
  failure: RefusalReason | null;
  /** the SNAT source port of this connection (from its endpoint's pool) */
  snatPort: number;
  /** how a gateway connection was routed, to re-check it when the routes change; null otherwise */
  readonly route: RouteKey | null;
  private closedSockets: number;
  private portTries: number;
  private readonly preamble: Buffer | null;
  private readonly target: BackendTarget;
  private dataSeen: boolean;
  /** the native relay holding this connection's sockets after hand-over (relayId !== 0), else null */
  private relay: NativeRelay | null;
  private relayId: number;
  /** bytes moved before hand-over, plus the relay's final counts once it closed */
  private relayReceived: number;
  private relaySent: number;

  constructor(owner: ConnectionOwner, client: Socket, listenPort: number, target: BackendTarget, now: number, connectTimeoutMs: number, snatPort: number, route: RouteKey | null) {
    this.client = client;
    this.owner = owner;
    this.listenPort = listenPort;
    this.phase = Phase.Connecting;
    this.startedAt = now;
    this.deadline = now + connectTimeoutMs;
    this.dataSeen = false;
    this.lastActive = now;
    this.failure = null;
    this.snatPort = snatPort;
    this.route = route;
    this.closedSockets = 0;
    this.portTries = 1;
    this.preamble = target.preamble;
    this.target = target;
    this.relay = null;
    this.relayId = 0;
    this.relayReceived = 0;
    this.relaySent = 0;
    (client as Tagged)[CONN] = this;
    client.on('error', onSocketError);
    client.on('close', onSocketClose);
    client.on('data', onData);
    client.setNoDelay(true);
    // The client stays paused (pauseOnConnect) until the backend is connected.
    this.backend = this.connectBackend();
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

  /** set by any data; the sweep reads and clears it to find idle connections (the relay's flag once handed over) */
  get touched(): boolean {
    return this.relayId === 0 ? this.dataSeen : this.relay!.touched(this.relayId);
  }

  set touched(v: boolean) {
    this.dataSeen = v;
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
    return true;
  }

  /** ends the connection now with a reset to the client (a cut, a timeout, a teardown) */
  cut(reason: RefusalReason | null): void {
    if (this.phase === Phase.Closed) return;
    if (this.relayId !== 0) this.relay!.cut(this.relayId);
    else if (this.phase === Phase.Connecting && reason) this.fail(reason);
    else {
      this.client.resetAndDestroy();
      this.backend.destroy();
    }
  }

  /** a graceful close after the idle timeout */
  closeIdle(): void {
    if (this.relayId !== 0) return this.relay!.close(this.relayId);
    this.client.destroy();
    this.backend.destroy();
  }

  fail(reason: RefusalReason): void {
    if (this.failure !== null || this.phase !== Phase.Connecting) return;
    this.failure = reason;
    this.owner.onBackendFailed(this, reason);
    this.client.resetAndDestroy();
    this.backend.destroy();
  }

  open(elapsedSeconds: number): void {
    this.phase = Phase.Open;
    this.owner.onBackendConnected(this, elapsedSeconds);
    const relay = activeRelay();
    if (relay && this.handOver(relay)) return;
    if (this.preamble) this.backend.write(this.preamble);
    // pipe() carries backpressure both ways and ends the other side on a FIN (half-close).
    this.client.pipe(this.backend);
    this.backend.pipe(this.client);
  }

  /**
   * Hands both sockets to the native relay, which writes the preamble and then splices the bytes.
   * Only when Node holds no byte of either side (the client is paused since accept, nothing was
   * written to the backend): else the JS relay keeps the connection. Node's sockets are destroyed
   * once the relay holds its dups: closing one fd of a socket that has another sends no FIN.
   */
  private handOver(relay: NativeRelay): boolean {
    const client = this.client as Socket & { _handle?: { fd?: number } | null };
    const backend = this.backend as Socket & { _handle?: { fd?: number } | null };
    const cfd = client._handle?.fd ?? -1;
    const bfd = backend._handle?.fd ?? -1;
    if (cfd < 0 || bfd < 0 || client.readableLength !== 0 || backend.readableLength !== 0 || backend.writableLength !== 0) return false;
    const id = relay.open(cfd, bfd, this.preamble, this);
    if (id === 0) return false;
    this.relay = relay;
    this.relayId = id;
    this.relayReceived = client.bytesRead;
    this.relaySent = client.bytesWritten;
    client.destroy();
    backend.destroy();
    return true;
  }

  /** bytes read from the client so far */
  get receivedBytes(): number {
    if (this.relayId === 0) return this.client.bytesRead;
    return this.relayReceived + (this.phase === Phase.Closed ? 0 : this.relay!.bytes(this.relayId)?.received ?? 0);
  }

  /** bytes written to the client so far */
  get sentBytes(): number {
    if (this.relayId === 0) return this.client.bytesWritten;
    return this.relaySent + (this.phase === Phase.Closed ? 0 : this.relay!.bytes(this.relayId)?.sent ?? 0);
  }

  /** the native relay closed both sockets (its close callback, once per connection) */
  relayClosed(received: number, sent: number): void {
    if (this.phase === Phase.Closed) return;
    this.relayReceived += received;
    this.relaySent += sent;
    this.phase = Phase.Closed;
    this.owner.onClosed(this);
  }

  socketClosed(): void {
    // Node's sockets of a handed-over connection close at hand-over: the relay reports the end.
    if (this.relayId !== 0) return;
    if (++this.closedSockets < 2) {
      // One side is gone: once it is closed, the other has nothing more to exchange.
      if (this.client.destroyed && !this.backend.destroyed) {
        if (this.phase === Phase.Connecting) this.backend.destroy();
        else if (!this.client.readableEnded) this.backend.resetAndDestroy();
      } else if (this.backend.destroyed && !this.client.destroyed && !this.backend.readableEnded) {
        this.client.resetAndDestroy();
      }
      return;
    }
    this.phase = Phase.Closed;
    this.owner.onClosed(this);
  }
}

function onBackendConnect(this: Tagged): void {
  const c = this[CONN];
  c.open((performance.now() - c.startedAt) / 1000);
}

function onData(this: Tagged): void {
  this[CONN].touched = true;
}

function ignore(): void {}

function onSocketError(this: Tagged, err: NodeJS.ErrnoException): void {
  const c = this[CONN];
  if (c.phase === Phase.Connecting && this === c.backend) {
    if (err.code === 'EADDRINUSE' && c.retryPort()) return;
    c.fail(reasonOf(err));
  }
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
