// What the endpoints see of a relayed connection, whichever relay carries it: the JS relay
// (js-relay.ts, Node sockets) or the native one (native-connection.ts, sockets owned by the addon).
import type { RefusalReason } from './admission.js';
import type { ToxicLink } from './toxics/link.js';

/** how an admitted connection ended, counted per endpoint (vpcep_endpoint_closed_connections_total) */
export type CloseReason = 'done' | 'idle' | 'cut' | 'unhealthy' | 'client_reset' | 'backend_reset' | 'backend_failed' | 'error';
export const CLOSE_REASONS: readonly CloseReason[] = ['done', 'idle', 'cut', 'unhealthy', 'client_reset', 'backend_reset', 'backend_failed', 'error'];

export const enum Phase {
  Connecting = 0,
  Open = 1,
  Closed = 2,
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
  /** the source address to bind (kernel SNAT, or the client's own address), or undefined */
  readonly localAddress: string | undefined;
  /** with localAddress: bind the connection's pool port (kernel SNAT), else let the kernel pick */
  readonly bindPoolPort: boolean;
  /** bytes to send to the backend before any payload (a PROXY v2 header), or null */
  readonly preamble: Buffer | null;
}

/** What a connection needs from the endpoint it belongs to. */
export interface ConnectionOwner {
  /** the connect attempt finished: seconds it took */
  onBackendConnected(conn: LiveConnection, seconds: number): void;
  /** the backend could not be reached: the client is reset and the reason counted */
  onBackendFailed(conn: LiveConnection, reason: RefusalReason): void;
  /** another SNAT source port when the one tried is held by a socket elsewhere, or 0 */
  nextSnatPort(conn: LiveConnection): number;
  /** both sockets are closed */
  onClosed(conn: LiveConnection): void;
}

/** A relayed connection, from admission to close. */
export interface LiveConnection {
  readonly phase: Phase;
  /** when the backend connect must have finished, on the coarse clock (ms) */
  readonly deadline: number;
  lastActive: number;
  readonly listenPort: number;
  /** how a gateway connection was routed, to re-check it when the routes change; null otherwise */
  readonly route: RouteKey | null;
  /** the SNAT source port of this connection (from its endpoint's pool) */
  readonly snatPort: number;
  /** the source port the backend sees: snatPort, or the port the kernel chose when another socket held it (the native relay) */
  readonly sourcePort: number;
  /** the client's host address */
  readonly remoteAddress: string;
  /** how it ended (both ways finished, idle timeout, cut, a reset, the backend connect failed), once closed */
  readonly closeReason: CloseReason | null;
  /** bytes read from the client and written to it so far */
  readonly receivedBytes: number;
  readonly sentBytes: number;
  /** adds both byte counts to TO in one read (the native relay's counters are read once, not once per figure) */
  addBytes(to: ByteCounts): void;
  /** were bytes moved since the last call (read and cleared by the idle sweep) */
  takeActivity(): boolean;
  /**
   * ends the connection now with a reset to the client (reject, delete, a removed port or route);
   * AS: the close reason counted (default `cut`; `unhealthy`: its backend turned unhealthy)
   */
  cut(as?: 'cut' | 'unhealthy'): void;
  /** the bandwidth limit of each direction, bytes/s (0: none); changed live (src/dataplane/bandwidth.ts) */
  shape(bytesPerSecond: number): void;
  /** the backend connect failed or timed out: counted, the client reset */
  fail(reason: RefusalReason): void;
  /** open or connecting on the plain relay (no toxic applies to it): a toxic added later hands it over */
  readonly plain: boolean;
  /**
   * a toxic added live applies to it: it continues on the toxic path (the JS relay's pumps, see
   * toxics/link.ts), no byte lost or reordered, half-closes kept (README "Fault injection");
   * a promise when the hand-over completes later (the native relay's thread lets it go)
   */
  toxify(link: ToxicLink): Promise<void> | void;
  /** a graceful close after the idle timeout */
  closeIdle(): void;
  /**
   * Called by every sweep: a client that sent its FIN is no longer read, so its later reset goes
   * unheard; the JS relay writes zero bytes to it, which fails on a reset socket and closes the
   * connection. The native relay hears resets itself (nothing to do).
   */
  probe(): void;
  /** a fast-path connection: its SNAT port goes back to the relay threads' pool, not the endpoint's */
  readonly threadPort?: boolean;
  /** a fast-path connection the threads handed to the JS relay (a toxic): its count and port are given back to them at its close */
  readonly offThreads?: boolean;
  /** such a connection's bytes since the hand-over (the threads' per-endpoint counters hold the rest) */
  addBytesOffThreads?(to: ByteCounts): void;
}

/** bytes from clients and to them */
export interface ByteCounts {
  received: number;
  sent: number;
}

/** A client connection accepted by a listener, before admission. */
export interface PendingClient {
  /** the client's host address and port */
  readonly remoteAddress: string;
  /** the client's host address as an integer (0: not IPv4), what admission reads */
  readonly remoteIp: number;
  readonly remotePort: number;
  /** refuses it with a reset */
  reset(): void;
  /**
   * admits it: connects the backend and relays, on the relay that accepted it; with TOXICS, through
   * them on the JS relay (a native client's descriptor handed to Node)
   */
  relay(owner: ConnectionOwner, listenPort: number, target: BackendTarget, now: number, connectTimeoutMs: number, snatPort: number, route: RouteKey | null, toxics: ToxicLink | null): LiveConnection;
}

/** what a listener tells its owner */
export interface ListenerSink {
  /** a client connected: admit it (client.relay) or refuse it (client.reset) */
  onClient(client: PendingClient): void;
  /** a connection could not be accepted (no descriptor left, ...), or handling it threw (`error`, with the exception) */
  onAcceptError(reason: 'fd_limit' | 'backend_error' | 'error', err?: unknown): void;
  /** the native fast path: a relay thread admitted, connected and relays a client (src/dataplane/fast-path.ts) */
  onFastOpened?(c: FastOpened): void;
  /** the native fast path: a relay thread refused a client (code: its index in REFUSAL_REASONS; target: the chosen target's index + 1, 0: none; choiceReason: why it was chosen) */
  onFastRefused?(code: number, ip: number, port: number, target: number, choiceReason: number): void;
  /** the native fast path: a relay thread opened and closed a client within one report window (no object made for it) */
  onFastBrief?(c: FastBrief): void;
}

/** a connection a relay thread opened and closed before it reported it (native/relay.cc kBriefEvent): counted only */
export interface FastBrief {
  readonly remoteIp: number;
  /** the index of its backend in the listener's targets, and why it was chosen (a CHOICE_REASONS index) */
  readonly target: number;
  readonly choiceReason: number;
  /** how it ended (backend_failed: its connect failed, for `failure`) */
  readonly closed: CloseReason;
  readonly failure: RefusalReason | null;
  /** its backend connect's duration, null when it never connected */
  readonly connectSeconds: number | null;
}

/** a connection a relay thread accepted, admitted and connected by itself (the native fast path) */
export interface FastOpened {
  readonly remoteIp: number;
  readonly remotePort: number;
  /** its SNAT source port, from the thread's pool of the endpoint (given back there at its close) */
  readonly snatPort: number;
  /** the index of its backend in the listener's targets, and why it was chosen (a CHOICE_REASONS index) */
  readonly target: number;
  readonly choiceReason: number;
  /** the connection, its events going to OWNER from now on; RATE: the bandwidth limit the thread applies to it (bytes/s, 0: none); ROUTE: a routed one's */
  adopt(owner: ConnectionOwner, listenPort: number, now: number, connectTimeoutMs: number, rate?: number, route?: RouteKey | null): LiveConnection;
}

/** a native listener's fast path: the relay threads accept on it by compiled rules, or not */
export interface FastControl {
  /** the threads accept from now on, by RULES (fast-path.ts compileGate) and the PROXY v2 template; false: cannot */
  compile(endpoint: number, rules: Uint32Array, preamble: Buffer | null): boolean;
  /** back to the event loop's accept */
  off(): void;
  /** a public service's listener: the threads accept, deciding routes by ROUTES (fast-routes.ts compileRoutes); false: cannot */
  route(routes: Uint32Array): boolean;
}

export interface TcpListener {
  /** stops accepting; connections already accepted go on */
  close(): void;
  /** the native relay's listeners: the fast path's switch */
  readonly fast?: FastControl;
}

/** connections the kernel queues on a listener before they are accepted */
export const LISTEN_BACKLOG = 4096;
