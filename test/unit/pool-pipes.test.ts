// The native relay's pipe pool shrinks under a low open-file limit, so that the data plane's
// descriptor budget (which leaves the pool out) still admits connections.
import { describe, expect, it } from 'vitest';
import { FD_RESERVE } from '../../src/dataplane/fd-limit.js';
import { poolPipesFor } from '../../src/dataplane/native-relay.js';

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
