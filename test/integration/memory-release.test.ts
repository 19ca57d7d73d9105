// The memory a burst of work grew, given back once the daemon is quiet (src/memory-release.ts,
// native/relay.cc releaseMemory): a real daemon, its start the burst. Its start grows V8's young
// generation (8 MiB committed after loading its modules), which V8 alone keeps for good.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/model/defaults.js';
import { metricValue, spawnDaemon, tempDir, twoAccountConfig, writeConfig, type ChildDaemon } from '../helpers.js';

let d: ChildDaemon | undefined;
afterEach(async () => {
  d?.proc.kill('SIGKILL');
  await d?.exited;
  d = undefined;
});

const youngGeneration = async (url: string): Promise<number> => (await metricValue(url, 'nodejs_heap_space_size_total_bytes', { space: 'new' })) ?? 0;

describe('memory given back once quiet', () => {
  it('an idle daemon gives back the young generation its start grew, within two quiet windows', async () => {
    const dir = tempDir();
    d = await spawnDaemon(['--config', writeConfig(dir, twoAccountConfig()), '--data-dir', dir]);
    const url = d.url;
    expect(await youngGeneration(url)).toBeGreaterThan(2 * 1024 * 1024);
    // left alone (a scrape every 10 ms would keep its event loop busy, never quiet) for two windows
    await new Promise((r) => setTimeout(r, 2 * DEFAULTS.memoryRelease.checkIntervalMs + 1_000));
    // its first size, 1 MiB, what the release shrinks it to
    expect(await youngGeneration(url)).toBeLessThanOrEqual(1024 * 1024);
  }, 30_000);
});
