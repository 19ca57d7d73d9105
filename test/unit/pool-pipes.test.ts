// The native relay's pipe pool shrinks under a low open-file limit, so that the data plane's
// descriptor budget (which leaves the pool out) still admits connections.
import { describe, expect, it } from 'vitest';
import { FD_RESERVE } from '../../src/dataplane/fd-limit.js';
import { pipeBytesFor, poolPipesFor } from '../../src/dataplane/native-relay.js';

describe('poolPipesFor', () => {
  it('keeps 64 empty pipes per thread under a normal limit', () => {
    expect(poolPipesFor(20_000)).toBe(64);
    expect(poolPipesFor(1_048_576)).toBe(64);
  });

  it('keeps one pipe per 64 descriptors above the reserve under a low limit, none below', () => {
    expect(poolPipesFor(FD_RESERVE + 64 * 10 + 63)).toBe(10);
    expect(poolPipesFor(300)).toBe(0);
    expect(poolPipesFor(100)).toBe(0);
  });
});

describe('pipeBytesFor', () => {
  it('an unprivileged user\'s pipes fit its pipe quota (1,024 of them), instead of 64 at 1 MiB and the rest silently at 8 KiB', () => {
    // /proc/sys/fs/pipe-user-pages-soft: 16,384 pages by default (64 MiB)
    expect(pipeBytesFor(16_384, false)).toBe(64 * 1024);
    expect(pipeBytesFor(16_384, false) * 1024).toBeLessThanOrEqual(16_384 * 4096);
    expect(pipeBytesFor(262_144, false)).toBe(1024 * 1024);
    expect(pipeBytesFor(100_000, false)).toBe(256 * 1024); // a power of two that fits
    expect(pipeBytesFor(1_000, false)).toBe(64 * 1024); // never below the kernel's default
  });

  it('gives 1 MiB when no quota binds (CAP_SYS_RESOURCE or CAP_SYS_ADMIN, or a soft limit of 0)', () => {
    expect(pipeBytesFor(16_384, true)).toBe(1024 * 1024);
    expect(pipeBytesFor(0, false)).toBe(1024 * 1024);
  });
});
