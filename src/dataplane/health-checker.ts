// The health checker: a TCP connect to each backend every interval, as a network load balancer's
// health checks (002_05e46307768ae273.txt; the contract and AWS's defaults in model/health.ts).
// State lives in memory, one entry per target key, so backend choice reads it in O(1) and a
// connection never waits on a probe. One coarse timer sweeps every entry (STYLE habit 7): it starts
// the probes that are due and times out the ones that ran too long; no timer per target or per probe.
//
// The state machine (AWS's, with the contract's choice about `initial`):
//   initial   -- a success ----------------------------> healthy   (at once: no healthy_threshold wait)
//   initial   -- unhealthy_threshold failures in a row -> unhealthy (AWS: a new target that never answers)
//   healthy   -- unhealthy_threshold failures in a row -> unhealthy
//   unhealthy -- healthy_threshold successes in a row --> healthy
import net from 'node:net';
import { probesSooner, type HealthProber, type HealthSettings, type ProbeReason, type ProbeState, type ProbeTarget } from '../model/health.js';

/** how a probe ended (vpcep_health_probes_total{result}) */
export const PROBE_RESULTS = ['success', 'failed', 'timeout', 'zone_down', 'error'] as const;
export type ProbeResult = (typeof PROBE_RESULTS)[number];

export const PROBE_STATES: readonly ProbeState[] = ['initial', 'healthy', 'unhealthy'];

/** the sweep's period: probe start and timeout resolution (ms) */
export const HEALTH_TICK_MS = 250;

/**
 * Probes in flight at most, each one descriptor while it connects. 256 is 1.3% of the daemon's
 * 20,000 open files; loopback probes finish in well under a millisecond, so only probes of
 * blackholed targets (each up to its timeout) pile up, and beyond the bound they wait their turn.
 */
export const MAX_PROBES_IN_FLIGHT = 256;

/** one probe on its way: `cancel` stops it without a result */
export interface ProbeHandle {
  cancel(): void;
}

/** starts one probe of host:port; `done(null)` on success, or the failure's result */
export type ProbeConnect = (host: string, port: number, done: (failure: 'failed' | 'error' | null) => void) => ProbeHandle;

/** the only part of a logger the checker uses */
export interface HealthLog {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface HealthCheckerOptions {
  /** whether a zone is unreachable (down on demand): its targets' probes fail at once, no socket */
  unreachable?: (zone: string | null) => boolean;
  /** the clock, in ms (tests inject one) */
  now?: () => number;
  /** false: no timer of its own, the caller drives sweep() (tests); default: a timer every tickMs */
  timer?: boolean;
  /** the sweep's period in ms (HEALTH_TICK_MS); integration tests with sub-second intervals shorten it */
  tickMs?: number;
  /** how a probe connects; default a TCP connect from the host (tests inject one without sockets) */
  connect?: ProbeConnect;
  maxInFlight?: number;
  log?: HealthLog;
  /** each probe's end, with its duration in seconds (the metrics' histogram) */
  observe?: (result: ProbeResult, seconds: number) => void;
}

/** What the metrics read at scrape time: pushed at each probe and each change (STYLE habit 13). */
export interface HealthFigures {
  readonly probes: Readonly<Record<ProbeResult, number>>;
  readonly targets: Readonly<Record<ProbeState, number>>;
  readonly inFlight: number;
}

/** one probed target: every field set here (STYLE habit 7) */
class Entry {
  state: ProbeState = 'initial';
  reason: ProbeReason | null = 'Elb.InitialHealthChecking';
  /** successes / failures in a row */
  passes = 0;
  fails = 0;
  /** when the next probe is due (ms on the checker's clock) */
  due: number;
  /** the offset in each interval at which this key probes, so targets spread over it */
  phase: number;
  probe: Probe | null = null;
  queued = false;
  constructor(
    readonly key: string,
    public host: string,
    public port: number,
    public zone: string | null,
    public settings: HealthSettings,
    now: number,
  ) {
    this.due = now; // the first probe at once
    this.phase = phaseOf(key, settings.interval_s * 1000);
  }
}

/** one probe in flight */
class Probe {
  handle: ProbeHandle | null = null;
  constructor(readonly entry: Entry, readonly started: number, readonly deadline: number) {}
}

/** FNV-1a of the key: a stable phase per key, so probes of many targets do not start together */
function phaseOf(key: string, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % intervalMs;
}

/** the next time after `t` at this entry's phase, at least half an interval on */
function nextDue(e: Entry, t: number): number {
  const i = e.settings.interval_s * 1000;
  let gap = (((e.phase - t) % i) + i) % i;
  if (gap < i / 2) gap += i;
  return t + gap;
}

const PROBE_DONE = Symbol('probeDone');
type ProbeSocket = net.Socket & { [PROBE_DONE]: (failure: 'failed' | 'error' | null) => void };

function onProbeConnect(this: ProbeSocket): void {
  this.destroy();
  this[PROBE_DONE](null);
}
function onProbeError(this: ProbeSocket, err: NodeJS.ErrnoException): void {
  // descriptors spent is the checker's own trouble, not the target's
  this[PROBE_DONE](err.code === 'EMFILE' || err.code === 'ENFILE' ? 'error' : 'failed');
}

/** a TCP connect from the host: success once connected (closed at once), failed on refusal, reset or no route */
export const tcpConnect: ProbeConnect = (host, port, done) => {
  const sock = net.connect({ host, port }) as ProbeSocket;
  sock[PROBE_DONE] = done;
  sock.once('connect', onProbeConnect);
  sock.once('error', onProbeError);
  return new SocketProbe(sock);
};

class SocketProbe implements ProbeHandle {
  constructor(private readonly sock: net.Socket) {}
  cancel(): void {
    this.sock.destroy();
  }
}

export class HealthChecker implements HealthProber {
  private readonly entries = new Map<string, Entry>();
  private readonly queue: Entry[] = [];
  private readonly inFlight = new Set<Probe>();
  private readonly listeners: Array<(key: string, state: ProbeState, reason: ProbeReason | null) => void> = [];
  private readonly now: () => number;
  private readonly connect: ProbeConnect;
  private readonly unreachable: (zone: string | null) => boolean;
  private readonly maxInFlight: number;
  private readonly log: HealthLog | null;
  private readonly observe: ((result: ProbeResult, seconds: number) => void) | null;
  private readonly timer: NodeJS.Timeout | null;
  private readonly probes: Record<ProbeResult, number> = { success: 0, failed: 0, timeout: 0, zone_down: 0, error: 0 };
  private readonly targets: Record<ProbeState, number> = { initial: 0, healthy: 0, unhealthy: 0 };
  private closed = false;
  private draining = false;
  private startFailing = false;

  constructor(opts: HealthCheckerOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.connect = opts.connect ?? tcpConnect;
    this.unreachable = opts.unreachable ?? (() => false);
    this.maxInFlight = opts.maxInFlight ?? MAX_PROBES_IN_FLIGHT;
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new Error(`maxInFlight must be a positive integer, got ${opts.maxInFlight}`);
    this.log = opts.log ?? null;
    this.observe = opts.observe ?? null;
    this.timer = opts.timer === false ? null : setInterval(() => this.sweep(), opts.tickMs ?? HEALTH_TICK_MS);
    this.timer?.unref();
  }

  state(key: string): ProbeState {
    return this.entries.get(key)?.state ?? 'initial';
  }

  reason(key: string): ProbeReason | null {
    const e = this.entries.get(key);
    return e ? e.reason : 'Elb.InitialHealthChecking';
  }

  onChange(listener: (key: string, state: ProbeState, reason: ProbeReason | null) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The targets to probe from now on. A key named twice (one backend behind several services) is
   * probed once, with the settings of the shortest interval among them (probesSooner): it is probed
   * at least as often as each of them asks.
   */
  set(targets: readonly ProbeTarget[]): void {
    if (this.closed) return;
    const wanted = new Map<string, ProbeTarget>();
    for (const t of targets) {
      const seen = wanted.get(t.key);
      if (!seen || probesSooner(t.settings, seen.settings)) wanted.set(t.key, t);
    }
    for (const [key, e] of this.entries) {
      if (!wanted.has(key)) this.forget(e);
    }
    const now = this.now();
    for (const t of wanted.values()) {
      const e = this.entries.get(t.key);
      if (!e) {
        this.entries.set(t.key, new Entry(t.key, t.host, t.port, t.zone, t.settings, now));
        this.targets.initial++;
        continue;
      }
      e.host = t.host;
      e.port = t.port;
      e.zone = t.zone;
      if (!sameSettings(e.settings, t.settings)) {
        const sooner = t.settings.interval_s < e.settings.interval_s;
        e.settings = t.settings;
        e.phase = phaseOf(e.key, t.settings.interval_s * 1000);
        if (sooner && !e.probe && !e.queued) e.due = Math.min(e.due, nextDue(e, now));
      }
    }
    this.sweep();
  }

  /** starts the probes that are due and times out the late ones; the timer calls it every HEALTH_TICK_MS */
  sweep(): void {
    if (this.closed) return;
    const now = this.now();
    for (const p of this.inFlight) {
      if (now >= p.deadline) this.finish(p, 'timeout');
    }
    for (const e of this.entries.values()) {
      if (!e.probe && !e.queued && now >= e.due) {
        e.queued = true;
        this.queue.push(e);
      }
    }
    this.drain();
  }

  /** the figures the metrics read */
  figures(): HealthFigures {
    return { probes: this.probes, targets: this.targets, inFlight: this.inFlight.size };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.inFlight) p.handle?.cancel();
    this.inFlight.clear();
    this.queue.length = 0;
  }

  private forget(e: Entry): void {
    this.entries.delete(e.key);
    this.targets[e.state]--;
    if (e.probe) {
      e.probe.handle?.cancel();
      this.inFlight.delete(e.probe);
      e.probe = null;
    }
    // a queued entry is skipped by drain(): it is no longer in `entries`
  }

  /** starts queued probes while fewer than maxInFlight run; a probe that ends at once frees its slot for the next */
  private drain(): void {
    if (this.draining) return; // a probe ended inside start(): the loop below goes on
    this.draining = true;
    let i = 0;
    try {
      while (i < this.queue.length && this.inFlight.size < this.maxInFlight) {
        const e = this.queue[i++]!;
        e.queued = false;
        if (this.entries.get(e.key) !== e) continue;
        this.start(e);
      }
    } finally {
      this.queue.splice(0, i);
      this.draining = false;
    }
  }

  private start(e: Entry): void {
    const now = this.now();
    e.due = nextDue(e, now);
    const p = new Probe(e, now, now + e.settings.timeout_s * 1000);
    if (this.unreachable(e.zone)) {
      // a zone down on demand: its backends cannot be reached, nothing to connect to
      this.record(p, 'zone_down');
      return;
    }
    e.probe = p;
    this.inFlight.add(p);
    try {
      p.handle = this.connect(e.host, e.port, (failure) => this.finish(p, failure ?? 'success'));
    } catch (err) {
      // logged once per run of such failures, not once per probe
      if (!this.startFailing) this.log?.warn({ err, target: e.key }, 'health probes cannot start: counted as error until they can');
      this.startFailing = true;
      this.finish(p, 'error');
      return;
    }
    this.startFailing = false;
  }

  /** a probe's end, once: a late callback of a probe timed out, cancelled or forgotten is ignored */
  private finish(p: Probe, result: ProbeResult): void {
    if (!this.inFlight.delete(p)) return;
    p.entry.probe = null;
    if (result === 'timeout') p.handle?.cancel();
    this.record(p, result);
    if (!this.closed) this.drain();
  }

  private record(p: Probe, result: ProbeResult): void {
    this.probes[result]++;
    if (result !== 'zone_down') this.observe?.(result, (this.now() - p.started) / 1000);
    const e = p.entry;
    if (this.entries.get(e.key) !== e) return;
    if (result === 'success') {
      e.fails = 0;
      e.passes++;
      if (e.state === 'initial' || (e.state === 'unhealthy' && e.passes >= e.settings.healthy_threshold)) this.change(e, 'healthy', null);
      return;
    }
    e.passes = 0;
    e.fails++;
    const reason: ProbeReason = result === 'timeout' ? 'Target.Timeout' : result === 'error' ? 'Elb.InternalError' : 'Target.FailedHealthChecks';
    if (e.state === 'unhealthy') {
      if (e.reason !== reason) this.change(e, 'unhealthy', reason);
    } else if (e.fails >= e.settings.unhealthy_threshold) {
      this.change(e, 'unhealthy', reason);
    }
  }

  private change(e: Entry, state: ProbeState, reason: ProbeReason | null): void {
    const was = e.state;
    this.targets[was]--;
    this.targets[state]++;
    e.state = state;
    e.reason = reason;
    if (was !== state) this.log?.debug({ target: e.key, state, reason }, 'health state changed');
    for (const l of this.listeners) {
      try {
        l(e.key, state, reason);
      } catch (err) {
        this.log?.warn({ err, target: e.key }, 'health change listener threw');
      }
    }
  }
}

function sameSettings(a: HealthSettings, b: HealthSettings): boolean {
  return a.interval_s === b.interval_s && a.timeout_s === b.timeout_s && a.healthy_threshold === b.healthy_threshold && a.unhealthy_threshold === b.unhealthy_threshold;
}
