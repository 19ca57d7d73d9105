// The boundary to the native relay (native/relay.cc, built by node-gyp into build/Release): loaded
// lazily on first use, absent when the addon is not built (the JS relay runs then). Which relay
// runs is chosen by VPCEP_RELAY: js | native | auto (default: native when the addon loads).
// With the native relay the addon accepts, connects and relays; TypeScript decides on each
// accepted connection (admission, routes) in one synchronous call per accepted batch.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { FD_RESERVE, openFileLimit } from './fd-limit.js';
import { GLOBAL_WORDS } from './fast-path.js';
import { PACKAGE_ROOT } from '../version.js';
import type { Cidr } from '../net/cidr.js';
import { CAP_SYS_ADMIN, CAP_SYS_RESOURCE, hostCapable } from '../host-privilege.js';

export type RelayKind = 'js' | 'native';

/** why the native relay closed a connection (the indexes are native/relay.cc's Reason) */
export const NATIVE_REASONS = [
  'done', 'client_reset', 'backend_reset', 'cut', 'closed', 'error',
  'backend_unreachable', 'backend_timeout', 'snat_exhausted', 'fd_limit', 'backend_error',
] as const;
export type NativeReason = (typeof NATIVE_REASONS)[number];

/** a connection the native relay carries: told when its backend is connected, then once when it closes */
export interface NativeSink {
  /** KERNELPORT: the source port the kernel chose, the pool port being held by another socket (0: the pool port) */
  relayConnected(seconds: number, kernelPort: number): void;
  /** `reason`: one of NATIVE_REASONS (from backend_unreachable on: the backend connect failed); KERNELPORT as relayConnected's, for a connect that failed */
  relayClosed(received: number, sent: number, reason: NativeReason, kernelPort: number): void;
  /** detach() done: the relay let the connection go (its final byte counts); HANDED: its sockets and held bytes, null if lost */
  relayDetached(received: number, sent: number, handed: Detached | null): void;
}

/** a connection the relay let go (detach()): its sockets, now the caller's, and the bytes its pipes held, to be written first */
export interface Detached {
  readonly clientFd: number;
  readonly backendFd: number;
  readonly forBackend: Buffer;
  readonly forClient: Buffer;
}

/** a native listener's owner */
export interface NativeAcceptor {
  /** a client connected: the fd is the caller's, to open() or reset() */
  accepted(fd: number, ip: number, port: number): void;
  /** a client was accepted and reset here: the process had no descriptor left */
  outOfDescriptors(): void;
  /** handling an accepted client threw: it was reset (or cut) here */
  failed(err: unknown): void;
  /** the fast path: a relay thread admitted, connected and now relays connection `id` (target: the index in the port's targets) */
  fastOpened?(id: number, ip: number, port: number, snatPort: number, target: number, choiceReason: number): void;
  /** the fast path: a relay thread refused a client (code: the index in REFUSAL_REASONS; target: the chosen one's index + 1, 0: none, and why it was chosen) */
  fastRefused?(code: number, ip: number, port: number, target: number, choiceReason: number): void;
  /** the fast path: a relay thread opened and closed a connection within one report window (target: its index; connectSeconds: null when it never connected) */
  fastBrief?(ip: number, target: number, choiceReason: number, reason: NativeReason, connectSeconds: number | null): void;
}

/** the fast path's endpoint handle's figures: its fast connections open, the bytes they moved (live ones included), SNAT ports held */
export interface FastEndpointStats {
  readonly active: number;
  readonly received: number;
  readonly sent: number;
  readonly snatPortsInUse: number;
}

/** the addon's surface (native/relay.cc) */
interface Addon {
  init(onEvents: (events: Float64Array) => void, onAccept: (listener: number, count: number) => void, acceptBuffer: Uint32Array, threads: number, poolPipes: number, pipeBytes: number, onFatal: (cause: string) => void, io: RelayIo): number;
  io(): [onRing: number, why: string, socketsAhead: number];
  listen(ip: number, port: number, backlog: number): number;
  unlisten(id: number): void;
  reset(fd: number): void;
  open(clientFd: number, backendIp: number, backendPort: number, sourceIp: number, sourcePort: number, preamble: Buffer | null): number;
  cut(id: number): void;
  close(id: number): void;
  shape(id: number, bytesPerSecond: number): void;
  stats(id: number): [received: number, sent: number] | undefined;
  detach(id: number): void;
  takeDetached(id: number): [clientFd: number, backendFd: number, forBackend: Buffer, forClient: Buffer] | undefined;
  adopt(clientFd: number, backendFd: number): number;
  dup(fd: number): number;
  touched(id: number): boolean;
  socketBuffer(bytes: number): void;
  clamp(fd: number, bytes: number): void;
  releaseMemory(): void;
  /** 0, or -errno */
  localRoute(add: boolean, ip: number, prefixLen: number): number;
  figures(): [pipeBytes: number, pipesUndersized: number, staleEvents: number, throttledUs: number, socketsAhead: number, busyTurns: number];
  testHoldCopies(on: boolean): void;
  testNextId(id: number): void;
  testBreakThread(): void;
  /** the connections each relay thread holds now */
  testThreadLoads(): number[];
  /** the first relay thread sleeps MS in its command handling */
  testStallThread(ms: number): void;
  threads(ping: boolean): Array<[connections: number, handedOver: number, waitedMs: number, dead: number]>;
  fastGlobals(words: Uint32Array): number;
  fastEndpoint(lowPort: number, highPort: number): number;
  fastEndpointDrop(handle: number): void;
  fastEndpointStats(handle: number): [active: number, received: number, sent: number, snatInUse: number] | undefined;
  fastPortTake(handle: number): number;
  fastPortGive(handle: number, port: number): void;
  fastListen(listener: number, endpoint: number, rules: Uint32Array | null, preamble: Buffer | null): boolean;
  fastCut(endpoint: number): void;
  fastShape(endpoint: number, bytesPerSecond: number): void;
  fastRoute(listener: number, routes: Uint32Array): boolean;
  fastRouteDecide(routes: Uint32Array, clientIp: number, endpointActive: number): [target: number, refusal: number, entry: number];
  fastDecide(rules: Uint32Array, preamble: Buffer | null, clientIp: number, clientPort: number, daemonActive: number, endpointActive: number, snatLeft: number): [refusal: number, target: number, reason: number, hash: number];
  fastFigures(): [accepted: number, open: number, reports: number];
  fastTake(): Float64Array | undefined;
  fastDone(endpoint: number, snatPort: number): void;
}

/** one relay thread as NativeRelay.threadStates() finds it */
export interface RelayThreadState {
  /** connections it holds */
  readonly connections: number;
  /** clients another thread handed over to it, not taken yet */
  readonly handedOver: number;
  /** how long a command posted to it has waited for it to turn its loop, ms (0: none waits) */
  readonly waitedMs: number;
  /** it left its loop on a fatal error: its connections stay until the process ends */
  readonly dead: boolean;
}

/** the relay's own figures (vpcep_relay_* metrics) */
export interface RelayFigures {
  /** the size the relay gives its pipes (F_SETPIPE_SZ) */
  readonly pipeBytes: number;
  /** pipes the kernel left smaller (the user's pipe quota was spent) */
  readonly pipesUndersized: number;
  /** epoll events that named a connection already closed, ignored */
  readonly staleEvents: number;
  /** seconds the relay threads held a limited direction back (bandwidth) */
  readonly throttledSeconds: number;
  /** connections the relay threads accepted themselves (the fast path), since start */
  readonly fastAccepted: number;
  /** backend sockets the relay threads hold made ahead through io_uring, now */
  readonly socketsAhead: number;
  /** threads dead or with a command unanswered for more than STUCK_THREAD_MS, now (no no-op posted: threadStates(false)) */
  readonly stuckThreads: number;
}

/** a relay thread is woken at once by a command posted to it: one unanswered this long is stuck */
export const STUCK_THREAD_MS = 5_000;

/** connections per accepted batch (kAcceptBatch) and numbers per entry: fd, ip, port */
const ACCEPT_BATCH = 64;
/** numbers per event (kEventWidth): id, kind, reason, received, sent, connect µs, the kernel's source port */
const EVENT_WIDTH = 7;
const CONNECTED = 1;
const DETACHED = 3;
/** the fast path's events (native/relay.cc kOpenedEvent, kRefusedEvent) */
const OPENED = 4;
const REFUSED = 5;
/** a fast connection opened and closed within one report window of its thread (native/relay.cc kBriefEvent) */
const BRIEF = 6;
/** how long a closed listener's acceptor still takes the threads' reports (ms): many report windows (native/relay.cc kReportUs) */
const RETIRED_MS = 1000;
/** an accepted entry whose connection was reset for lack of descriptors */
const NO_FD = 0xffffffff;

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * Empty pipes each relay thread keeps for reuse: 64, fewer under a low open-file limit (one per
 * 64 descriptors above the reserve), so that the pool never eats the connections' budget.
 */
export function poolPipesFor(fdLimit: number): number {
  return Math.max(0, Math.min(64, Math.floor((fdLimit - FD_RESERVE) / 64)));
}

const MAX_PIPE_BYTES = 1024 * 1024;
const MIN_PIPE_BYTES = 64 * 1024;
/** pipes an unprivileged relay sizes for: 512 connections busy both ways */
const QUOTA_PIPES = 1024;

/**
 * The pipe size: 1 MiB, or for a user bound by /proc/sys/fs/pipe-user-pages-soft (no
 * CAP_SYS_RESOURCE nor CAP_SYS_ADMIN) the power of two that lets 1,024 pipes fit in it (64 KiB
 * at the default 16,384 pages): past the quota every new pipe of the user gets 8 KiB.
 */
export function pipeBytesFor(softPages: number, privileged: boolean): number {
  if (privileged || softPages <= 0) return MAX_PIPE_BYTES;
  const share = (softPages * 4096) / QUOTA_PIPES;
  return Math.min(MAX_PIPE_BYTES, Math.max(MIN_PIPE_BYTES, 2 ** Math.floor(Math.log2(share))));
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * the pipe size for this process (Linux: its capabilities and the pipe quota); the kernel spares
 * only a holder of the capabilities in the initial user namespace, not the root of one's own (`unshare -r`)
 */
function pipeBytesHere(): number {
  const privileged = hostCapable(CAP_SYS_RESOURCE, CAP_SYS_ADMIN);
  return pipeBytesFor(Number(read('/proc/sys/fs/pipe-user-pages-soft').trim() || 0), privileged);
}

/** a relay thread died: the daemon cannot carry its connections any more and must stop */
let fatal: (cause: string) => void = (cause) => {
  process.stderr.write(`vpcep_relay: ${cause}: stopping\n`);
  process.exit(70);
};

/** who stops the process when a relay thread dies (the daemon: a fatal log line, exit 70) */
export function onRelayFatal(handler: (cause: string) => void): void {
  fatal = handler;
}

export class NativeRelay {
  readonly threads: number;
  /** descriptors the threads' pipe pools may hold (the data plane's budget leaves them out) */
  readonly pooledFds: number;
  private readonly addon: Addon;
  private readonly connections = new Map<number, NativeSink>();
  private readonly acceptors = new Map<number, NativeAcceptor>();
  /** listeners closed lately: their threads' reports of connections accepted before the close still reach them */
  private readonly retired = new Map<number, NativeAcceptor>();
  private readonly accepted = new Uint32Array(ACCEPT_BATCH * 3);
  /** the accepted fd being handled, until open() or reset() takes it; -1 when none */
  private handling: number;
  /** the id open() gave the fd being handled, 0 when none */
  private handledId: number;
  /** the daemon-wide inputs the threads' admission reads (src/dataplane/fast-path.ts writeLoad, writeVpcs) */
  readonly globals = new Uint32Array(GLOBAL_WORDS);

  constructor(addon: Addon, threads: number, poolPipes: number, pipeBytes: number, io: RelayIo = 'auto') {
    this.addon = addon;
    this.handling = -1;
    this.handledId = 0;
    this.threads = addon.init((events) => this.onEvents(events), (listener, count) => this.onAccept(listener, count), this.accepted, threads, poolPipes, pipeBytes, (cause) => fatal(cause), io);
    // the pipes the threads pool, and the backend sockets they make ahead through io_uring
    this.pooledFds = this.threads * poolPipes * 2 + addon.io()[2];
    addon.fastGlobals(this.globals);
  }

  /**
   * How the relay threads make the calls they do not wait on (epoll ADDs, closes): `io_uring`
   * (queued and sent with each thread's wait) or `syscalls` (one kernel entry each), and why not
   * io_uring (VPCEP_RELAY_URING=off, a kernel or build without it).
   */
  io(): { mode: 'io_uring' | 'syscalls'; why: string; socketsAhead: boolean } {
    const [onRing, why, sockets] = this.addon.io();
    return onRing === this.threads ? { mode: 'io_uring', why: '', socketsAhead: sockets > 0 } : { mode: 'syscalls', why, socketsAhead: false };
  }

  /** the fast path: a handle for an endpoint's cap count and SNAT ports on the threads */
  fastEndpoint(lowPort: number, highPort: number): number {
    return this.addon.fastEndpoint(lowPort, highPort);
  }

  fastEndpointDrop(handle: number): void {
    this.addon.fastEndpointDrop(handle);
  }

  fastEndpointStats(handle: number): FastEndpointStats | null {
    const s = this.addon.fastEndpointStats(handle);
    return s ? { active: s[0], received: s[1], sent: s[2], snatPortsInUse: s[3] } : null;
  }

  /** a SNAT port of the endpoint's one pool (the threads' and the event loop's), 0: none left */
  fastPortTake(handle: number): number {
    return this.addon.fastPortTake(handle);
  }

  fastPortGive(handle: number, port: number): void {
    this.addon.fastPortGive(handle, port);
  }

  /** the threads accept on the listener from now on, by these compiled rules; endpoint 0: back to the event loop */
  fastListen(listener: number, endpoint: number, rules: Uint32Array | null, preamble: Buffer | null): boolean {
    return this.addon.fastListen(listener, endpoint, rules, preamble);
  }

  /** a fast connection handed to the JS relay (a toxic) closed: its count and SNAT port on the threads are given back */
  fastDone(endpoint: number, snatPort: number): void {
    this.addon.fastDone(endpoint, snatPort);
  }

  /** every thread resets the endpoint's fast connections, those not reported yet included */
  fastCut(endpoint: number): void {
    this.addon.fastCut(endpoint);
  }

  /** the threads accept on a public service's listener, deciding each connection's route from ROUTES (src/dataplane/fast-routes.ts) */
  fastRoute(listener: number, routes: Uint32Array): boolean {
    return this.addon.fastRoute(listener, routes);
  }

  /** the threads' route decision for one client of a compiled public listener, each entry holding ENDPOINTACTIVE connections (the agreement test) */
  fastRouteDecide(routes: Uint32Array, clientIp: number, endpointActive: number): { target: number; refusal: number; entry: number } {
    const [target, refusal, entry] = this.addon.fastRouteDecide(routes, clientIp, endpointActive);
    return { target, refusal, entry };
  }

  /** every thread gives the endpoint's fast connections a new per-connection limit (bytes/s, 0: none), those not reported yet included */
  fastShape(endpoint: number, bytesPerSecond: number): void {
    this.addon.fastShape(endpoint, bytesPerSecond);
  }

  /** the threads' decision for one client on given counts (the agreement test) */
  fastDecide(rules: Uint32Array, preamble: Buffer | null, clientIp: number, clientPort: number, daemonActive: number, endpointActive: number, snatLeft: number): { refusal: number; target: number; reason: number; hash: number } {
    const [refusal, target, reason, hash] = this.addon.fastDecide(rules, preamble, clientIp, clientPort, daemonActive, endpointActive, snatLeft);
    return { refusal, target, reason, hash };
  }

  /**
   * Takes the fast connections' events the threads hold for their next report (timed reports:
   * up to 10 ms) and handles them now: a scrape, a drain or a test then reads counts that include
   * every connection a thread has opened or closed so far.
   */
  report(): void {
    const events = this.addon.fastTake();
    if (events !== undefined) this.onEvents(events);
  }

  /**
   * connections the threads accepted since start, fast connections open now, and the batches of
   * events the threads handed to the JS thread since start (each a wake of it: timed reports)
   */
  fastFigures(): { accepted: number; open: number; reports: number } {
    const [accepted, open, reports] = this.addon.fastFigures();
    return { accepted, open, reports };
  }

  /** SO_RCVBUF/SO_SNDBUF of listeners and backend sockets made from now on; 0: the kernel's autotuning */
  socketBuffer(bytes: number): void {
    this.addon.socketBuffer(bytes);
  }

  figures(): RelayFigures {
    const [pipeBytes, pipesUndersized, staleEvents, throttledUs, socketsAhead] = this.addon.figures();
    const stuckThreads = this.threadStates(false).filter((t) => t.dead || t.waitedMs > STUCK_THREAD_MS).length;
    return { pipeBytes, pipesUndersized, staleEvents, throttledSeconds: (throttledUs ?? 0) / 1e6, fastAccepted: this.addon.fastFigures()[0], socketsAhead: socketsAhead ?? 0, stuckThreads };
  }

  /**
   * the relay threads' turns that had events, since start (each a wake-up for work; no wake-up
   * when nothing moves): how busy the threads are where the event loop does not see it
   */
  busyTurns(): number {
    return this.addon.figures()[5] ?? 0;
  }

  /**
   * Each relay thread's state. A thread is woken at once by a command posted to it, so a command
   * that has waited seconds names a stuck thread. With `ping`, a thread with none waiting is sent
   * a no-op that the next call measures (call twice, some time apart, to probe an idle thread);
   * without, a stuck thread shows once something is posted to it (a connection, a cut, a hand-over).
   */
  threadStates(ping = true): RelayThreadState[] {
    return this.addon.threads(ping).map(([connections, handedOver, waitedMs, dead]) => ({ connections, handedOver, waitedMs, dead: dead === 1 }));
  }

  /** test hooks of the addon (native/relay.cc): never used by the daemon */
  get testHooks(): Pick<Addon, 'testHoldCopies' | 'testNextId' | 'testBreakThread' | 'testThreadLoads' | 'testStallThread'> {
    return this.addon;
  }

  /** listens on ip:port; throws the bind error with its code (EADDRINUSE, ...) */
  listen(ip: number, port: number, backlog: number, acceptor: NativeAcceptor): number {
    const id = this.addon.listen(ip, port, backlog);
    if (id < 0) {
      const code = errnoNames.get(-id) ?? `errno ${-id}`;
      throw Object.assign(new Error(`listen ${code}`), { code });
    }
    this.acceptors.set(id, acceptor);
    return id;
  }

  unlisten(id: number): void {
    const a = this.acceptors.get(id);
    this.acceptors.delete(id);
    this.addon.unlisten(id);
    // a thread may hold a report of this listener's connections for up to a window (10 ms)
    if (a?.fastOpened !== undefined) {
      this.retired.set(id, a);
      setTimeout(() => this.retired.delete(id), RETIRED_MS).unref();
    }
  }

  /** an accepted connection handed to Node (a toxic's JS relay): the fd is no longer the relay's to reset */
  release(fd: number): void {
    if (fd === this.handling) this.handling = -1;
  }

  /** refuses an accepted connection (RST) */
  reset(fd: number): void {
    if (fd === this.handling) this.handling = -1;
    this.addon.reset(fd);
  }

  /**
   * Takes over an accepted connection: the relay connects backendIp:backendPort (from
   * sourceIp:sourcePort when sourceIp is not 0; port 0: the kernel's choice), writes `preamble`
   * first, then relays. Returns the relay's id.
   */
  open(fd: number, backendIp: number, backendPort: number, sourceIp: number, sourcePort: number, preamble: Buffer | null, sink: NativeSink): number {
    const id = this.addon.open(fd, backendIp, backendPort, sourceIp, sourcePort, preamble);
    if (fd === this.handling) {
      this.handling = -1;
      this.handledId = id;
    }
    this.connections.set(id, sink);
    return id;
  }

  /** resets both sockets; relayClosed() follows */
  cut(id: number): void {
    this.addon.cut(id);
  }

  /** the bandwidth limit of both directions, bytes/s (0: none): the relay thread's token buckets, live */
  shape(id: number, bytesPerSecond: number): void {
    this.addon.shape(id, bytesPerSecond);
  }

  /** closes both sockets gracefully (idle timeout); relayClosed() follows */
  close(id: number): void {
    this.addon.close(id);
  }

  /**
   * The relay thread stops relaying the connection at a safe point (issue 15: a toxic added live)
   * and hands it back: relayDetached() follows with its sockets and the bytes its pipes held
   * (or relayClosed(), when it closed first).
   */
  detach(id: number): void {
    this.addon.detach(id);
  }

  /**
   * Takes back a connected pair (its last toxic removed: the JS relay let it go with nothing
   * pending either way) and relays it as open() would; returns its new id. FDS: copies of the
   * Node sockets' descriptors (dup()), the relay's from here on.
   */
  adopt(clientFd: number, backendFd: number, sink: NativeSink): number {
    const id = this.addon.adopt(clientFd, backendFd);
    this.connections.set(id, sink);
    return id;
  }

  /** a copy of a descriptor (close-on-exec), or -1 */
  dup(fd: number): number {
    const copy = fd >= 0 ? this.addon.dup(fd) : -1;
    return copy >= 0 ? copy : -1;
  }

  /** did the connection move bytes since the last call (read and cleared) */
  touched(id: number): boolean {
    return this.addon.touched(id);
  }

  /** bytes from the client and to the client so far, or null once closed */
  bytes(id: number): { received: number; sent: number } | null {
    const s = this.addon.stats(id);
    return s ? { received: s[0], sent: s[1] } : null;
  }

  /** connections tracked here (a NativeConnection each), once the threads' held reports are in */
  get size(): number {
    this.report();
    return this.connections.size;
  }

  /** Each entry of the batch on its own: one that throws is reset (or cut) and counted, the rest go on. */
  private onAccept(listener: number, count: number): void {
    const a = this.acceptors.get(listener);
    const buf = this.accepted;
    for (let i = 0; i < count * 3; i += 3) {
      const fd = buf[i]!;
      if (fd === NO_FD) a?.outOfDescriptors();
      else if (!a) this.addon.reset(fd);
      else {
        this.handling = fd;
        this.handledId = 0;
        try {
          a.accepted(fd, buf[i + 1]!, buf[i + 2]!);
        } catch (err) {
          if (this.handling === fd) this.addon.reset(fd);
          else if (this.handledId !== 0) this.addon.cut(this.handledId);
          a.failed(err);
        }
        this.handling = -1;
      }
    }
  }

  /** a fast-path event: [id, kind, target * 4 + choice, listener, client ip, port << 16 | snat port] (opened), [(target + 1) * 4 + choice, kind, code, listener, ip, port] (refused) or [target * 4 + choice, kind, reason, listener, ip, connect µs] (brief) */
  private onFast(events: Float64Array, i: number): void {
    const id = events[i]!;
    const listener = events[i + 3]!;
    const a = this.acceptors.get(listener) ?? this.retired.get(listener);
    if (events[i + 1] === REFUSED) {
      a?.fastRefused?.(events[i + 2]!, events[i + 4]!, events[i + 5]!, Math.floor(id / 4), id % 4);
      return;
    }
    if (events[i + 1] === BRIEF) {
      // [target * 4 + choice, kind, reason, listener, client ip, connect µs (-1: never connected)]
      const us = events[i + 5]!;
      try {
        a?.fastBrief?.(events[i + 4]!, Math.floor(id / 4), id % 4, NATIVE_REASONS[events[i + 2]!] ?? 'error', us < 0 ? null : us / 1e6);
      } catch (err) {
        a?.failed(err);
      }
      return;
    }
    const packed = events[i + 5]!;
    const choice = events[i + 2]!;
    if (a?.fastOpened) {
      try {
        a.fastOpened(id, events[i + 4]!, Math.floor(packed / 65536), packed % 65536, Math.floor(choice / 4), choice % 4);
        return;
      } catch (err) {
        a.failed(err);
      }
    }
    // nobody owns it (its listener closed before the report): reset
    this.addon.cut(id);
  }

  /** the fast path: a sink for a connection a thread opened (its events follow this call) */
  track(id: number, sink: NativeSink): void {
    this.connections.set(id, sink);
  }

  /**
   * Each event of the batch on its own: the threads have forgotten the connections they report
   * closed, so an event lost behind one whose handler threw would leave its connection open here
   * for good (its cap slot, its gauges). The first error is thrown once the batch is done.
   */
  private onEvents(events: Float64Array): void {
    let first: { err: unknown } | null = null;
    for (let i = 0; i < events.length; i += EVENT_WIDTH) {
      try {
        this.onEvent(events, i);
      } catch (err) {
        first ??= { err };
      }
    }
    if (first) throw first.err;
  }

  private onEvent(events: Float64Array, i: number): void {
    const id = events[i]!;
    const kind = events[i + 1];
    if (kind === OPENED || kind === REFUSED || kind === BRIEF) return this.onFast(events, i);
    const sink = this.connections.get(id);
    if (!sink) {
      // a detached connection nobody waits for: its sockets are reset, never leaked
      const d = kind === DETACHED ? this.addon.takeDetached(id) : undefined;
      if (d) for (const fd of [d[0], d[1]]) this.addon.reset(fd);
      return;
    }
    if (kind === CONNECTED) return sink.relayConnected(events[i + 5]! / 1e6, events[i + 6]!);
    this.connections.delete(id);
    if (kind === DETACHED) {
      const d = this.addon.takeDetached(id);
      return sink.relayDetached(events[i + 3]!, events[i + 4]!, d ? { clientFd: d[0], backendFd: d[1], forBackend: d[2], forClient: d[3] } : null);
    }
    sink.relayClosed(events[i + 3]!, events[i + 4]!, NATIVE_REASONS[events[i + 2]!] ?? 'error', events[i + 6]!);
  }
}

/**
 * How the relay threads make their calls (native/relay.cc IoRing): `off` (VPCEP_RELAY_URING=off)
 * every call direct; else through io_uring where the kernel has it, with backend sockets made
 * ahead (`auto`) unless the open-file limit is low enough to shrink the pipe pool or
 * VPCEP_RELAY_URING=no-sockets (`no-sockets`: the sockets made ahead would eat the connections'
 * budget too; the setting is there to compare).
 */
type RelayIo = 'auto' | 'no-sockets' | 'off';
function uringSetting(poolPipes: number): RelayIo {
  const want = (process.env.VPCEP_RELAY_URING ?? '').trim().toLowerCase();
  if (want === 'off') return 'off';
  return want === 'no-sockets' || poolPipes < poolPipesFor(Number.POSITIVE_INFINITY) ? 'no-sockets' : 'auto';
}

export interface RelayChoice {
  readonly relay: RelayKind;
  /** how the native relay's threads make their calls (NativeRelay.io()); absent for the JS relay */
  readonly io?: 'io_uring' | 'syscalls';
  /** why, for the start-up log line */
  readonly why: string;
}

let addon: Addon | null | undefined;
let loaded: NativeRelay | null | undefined;
let loadError = '';
let choice: RelayChoice | undefined;
let active: NativeRelay | null = null;

/** the addon, loaded on first call (no thread started); null when not built or not loadable */
function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(path.join(PACKAGE_ROOT, 'build/Release/vpcep_relay.node')) as Addon;
  } catch (err) {
    addon = null;
    loadError = (err as Error).message.split('\n')[0] ?? 'cannot load';
  }
  return addon;
}

/** the native relay, started on first call; null when the addon is not built or fails to start */
export function loadNativeRelay(): NativeRelay | null {
  if (loaded !== undefined) return loaded;
  const a = loadAddon();
  try {
    const poolPipes = poolPipesFor(openFileLimit());
    loaded = a && new NativeRelay(a, Number(process.env.VPCEP_RELAY_THREADS ?? 0) || 0, poolPipes, pipeBytesHere(), uringSetting(poolPipes));
  } catch (err) {
    loaded = null;
    loadError = (err as Error).message.split('\n')[0] ?? 'cannot start';
  }
  return loaded;
}

/** the native relay if this process has started it, else null (never starts it) */
export function startedNativeRelay(): NativeRelay | null {
  return loaded ?? null;
}

/**
 * Sets SO_RCVBUF and SO_SNDBUF of a socket of the JS relay (Node has no setsockopt) with the
 * addon, when it is built; false when it is not (the kernel then autotunes).
 */
export function clampSocketBuffers(fd: number, bytes: number): boolean {
  const a = loadAddon();
  if (!a || fd < 0) return false;
  a.clamp(fd, bytes);
  return true;
}

/**
 * Adds (ADD) or deletes the AnyIP route `local CIDR dev lo` of the local table from this process,
 * over rtnetlink through the addon: a capability the process holds through its file (`setcap
 * cap_net_admin=+ep`) is not passed on to a child program such as ip. '' when done, else the
 * errno's name (EPERM, EEXIST, ESRCH); null when the addon is not built.
 */
export function localRoute(add: boolean, cidr: Cidr): string | null {
  const a = loadAddon();
  if (!a) return null;
  const r = a.localRoute(add, cidr.base, cidr.prefix);
  return r === 0 ? '' : util.getSystemErrorName(r);
}

/**
 * Gives back the memory a burst of work grew (V8's heap, malloc's arenas: native/relay.cc
 * releaseMemory) with the addon, when it is built, whichever relay carries the connections; false
 * when it is not.
 */
export function releaseMemory(): boolean {
  const a = loadAddon();
  if (!a) return false;
  a.releaseMemory();
  return true;
}

/**
 * Chooses the relay from VPCEP_RELAY (js | native | auto; auto: native when the addon loads).
 * The daemon calls it at start-up and logs the answer; new connections use the latest choice.
 * `native` without the addon falls back to js (with the reason), never fails the start.
 */
export function selectRelay(setting: string | undefined = process.env.VPCEP_RELAY): RelayChoice {
  const want = (setting ?? 'auto').trim().toLowerCase() || 'auto';
  if (want === 'js') {
    active = null;
    choice = { relay: 'js', why: 'VPCEP_RELAY=js' };
  } else {
    const relay = loadNativeRelay();
    active = relay;
    const unknown = want !== 'native' && want !== 'auto' ? ` (unknown VPCEP_RELAY=${setting}: auto)` : '';
    if (relay) {
      const io = relay.io();
      const calls = io.mode === 'io_uring'
        ? `epoll ADDs and closes through io_uring${io.socketsAhead ? ', backend sockets made ahead through it' : ''}`
        : `direct system calls (no io_uring: ${io.why})`;
      choice = { relay: 'native', io: io.mode, why: `splice(2) relay on ${relay.threads} thread(s), ${calls}${unknown}` };
    } else {
      choice = { relay: 'js', why: `native relay not available: ${loadError}${unknown}` };
    }
  }
  return choice;
}

/** the relay for a new connection: the native one, or null for the JS relay */
export function activeRelay(): NativeRelay | null {
  if (choice === undefined) selectRelay();
  return active;
}

/** the current choice (selected from the environment on first use) */
export function relayChoice(): RelayChoice {
  if (choice === undefined) selectRelay();
  return choice!;
}
