// The memory a burst grew, given back once the daemon is quiet (src/memory-release.ts): the checks
// run on an injected clock, RSS, event loop share and relay threads' turns, so each window's
// decision is the test's.
import { describe, expect, it } from 'vitest';
import { releaseMemoryWhenQuiet } from '../../src/memory-release.js';
import { DEFAULTS } from '../../src/model/defaults.js';

const MiB = 1024 * 1024;

function harness(canRelease = true) {
  const w = { rss: 100 * MiB, busy: 0, turns: 0, releases: 0, tick: (): void => undefined, cancelled: false, interval: 0 };
  const cancel = releaseMemoryWhenQuiet({
    release: () => {
      w.releases++;
      return canRelease;
    },
    every: (ms, fn) => {
      w.interval = ms;
      w.tick = fn;
      return () => { w.cancelled = true; };
    },
    rss: () => w.rss,
    busyShare: () => w.busy,
    relayTurns: () => w.turns,
  });
  return { w, cancel };
}

describe('memory release once quiet', () => {
  it('releases the start\'s burst at the first quiet window, then only after growth and a quiet window', () => {
    const { w } = harness();
    expect(w.interval).toBe(DEFAULTS.memoryRelease.checkIntervalMs);
    w.busy = 0.5;
    w.tick();
    expect(w.releases).toBe(0); // busy: never while the loop works
    w.busy = 0;
    w.tick();
    expect(w.releases).toBe(1); // the start's
    w.tick();
    expect(w.releases).toBe(1); // nothing grew since
    w.rss -= 20 * MiB; // what the release gave back: the new lowest
    w.tick();
    w.rss += DEFAULTS.memoryRelease.growthBytes - 1;
    w.tick();
    expect(w.releases).toBe(1); // grown, but under the threshold
    w.busy = 0.3;
    w.rss += 30 * MiB; // a burst of creates
    w.tick();
    expect(w.releases).toBe(1);
    w.busy = 0.01;
    w.tick();
    expect(w.releases).toBe(2);
  });

  it('never while the relay threads relay, though the event loop is quiet (the native relay\'s connections bypass it)', () => {
    const { w } = harness();
    const { quietRelayTurns } = DEFAULTS.memoryRelease;
    w.turns += quietRelayTurns; // a window of traffic on the threads, the loop idle
    w.tick();
    expect(w.releases).toBe(0);
    w.turns += 10 * quietRelayTurns;
    w.tick();
    expect(w.releases).toBe(0);
    w.turns += quietRelayTurns - 1; // a trickle under the threshold: quiet
    w.tick();
    expect(w.releases).toBe(1);
    w.rss += 30 * MiB;
    w.turns += quietRelayTurns;
    w.tick();
    expect(w.releases).toBe(1);
    w.tick(); // the traffic stopped: the next window releases
    expect(w.releases).toBe(2);
  });

  it('stops watching when it cannot release (no addon), and on cancel', () => {
    const { w } = harness(false);
    w.tick();
    expect(w.releases).toBe(1);
    expect(w.cancelled).toBe(true);
    const other = harness();
    other.cancel();
    expect(other.w.cancelled).toBe(true);
  });
});
