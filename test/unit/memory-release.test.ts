// The memory a burst grew, given back once the daemon is quiet (src/memory-release.ts): the checks
// run on an injected clock, RSS and event loop share, so each window's decision is the test's.
import { describe, expect, it } from 'vitest';
import { releaseMemoryWhenQuiet } from '../../src/memory-release.js';
import { DEFAULTS } from '../../src/model/defaults.js';

const MiB = 1024 * 1024;

function harness(canRelease = true) {
  const w = { rss: 100 * MiB, busy: 0, releases: 0, tick: (): void => undefined, cancelled: false, interval: 0 };
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
