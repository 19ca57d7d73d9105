// The memory a burst of work grew, given back once the daemon is quiet (issue 16). A run of creates,
// a restore or a storm of connections grows V8's heap (its young generation doubles up to 16 MiB
// semispaces and stays so) and glibc's arenas, and neither gives it back by itself when the work
// stops: an idle daemon that once made 1,000 endpoints kept some 30 MiB it no longer used, what
// `ps` shows and what the scale scenario charged to the endpoints (README "Scale: many endpoints
// in one daemon"). So the daemon watches its event loop and its RSS: after a window in which the
// loop was quiet, with the RSS grown since its lowest point, it releases (native/relay.cc
// releaseMemory: an incremental GC that shrinks the heap, then malloc_trim). Under steady work
// the daemon is never quiet and nothing is released: the heap stays the size the work needs.
// The native relay's threads carry their connections without the event loop, so a loop that is
// quiet says nothing of them: their turns count too. A release while they relay put a GC of tens
// of ms on the main thread in the middle of their traffic, on the cores they share (README
// "Housekeeping off the relayed traffic").
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { DEFAULTS } from './model/defaults.js';

export interface MemoryReleaseOptions {
  /** gives the memory back (RSS: the process's RSS just before, in bytes); false when it cannot (no addon) */
  readonly release: (rss: number) => boolean;
  /** runs FN every MS and returns its cancel */
  readonly every: (ms: number, fn: () => void) => () => void;
  /** the process's RSS in bytes (tests inject it) */
  readonly rss?: () => number;
  /** the event loop's busy share since the last call (tests inject it) */
  readonly busyShare?: () => number;
  /** the relay threads' turns with work since start (NativeRelay.busyTurns); absent: none run */
  readonly relayTurns?: () => number;
}

/** the event loop's utilization since the previous call (Node's eventLoopUtilization deltas) */
function loopBusyShare(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const share = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return share;
  };
}

/** starts watching; returns its cancel. Each window: quiet, and grown past the threshold: release. */
export function releaseMemoryWhenQuiet(o: MemoryReleaseOptions): () => void {
  const { checkIntervalMs, quietShare, quietRelayTurns, growthBytes } = DEFAULTS.memoryRelease;
  const rss = o.rss ?? (() => process.memoryUsage.rss());
  const busyShare = o.busyShare ?? loopBusyShare();
  const relayTurns = o.relayTurns ?? (() => 0);
  let lowest = 0; // the start is a burst of its own: the first quiet window releases it
  let turns = relayTurns();
  let cancel = (): void => undefined;
  cancel = o.every(checkIntervalMs, () => {
    const now = rss();
    lowest = Math.min(lowest, now);
    const turnsNow = relayTurns();
    const relaying = turnsNow - turns >= quietRelayTurns;
    turns = turnsNow;
    if (busyShare() >= quietShare || relaying || now - lowest < growthBytes) return;
    // the released memory leaves over the next moments (the GC is incremental): the next lowest is measured from here
    if (!o.release(now)) return cancel();
    lowest = now;
  });
  return () => cancel();
}
