// The native relay's batch of events reaches TypeScript in one call: an event whose handler throws
// must not lose the others (the threads have already forgotten the connections they report
// closed, so a lost close leaves its connection open in TypeScript for good: its cap slot, its
// gauges). The batch is fed here by hand to the relay's own handler.
import { describe, expect, it } from 'vitest';
import { loadNativeRelay, type NativeReason, type NativeSink } from '../../src/dataplane/native-relay.js';

const relay = loadNativeRelay();
const inCi = process.env.CI === 'true';
const CLOSED = 2; // native/relay.cc kClosedEvent
const DONE = 0; // NATIVE_REASONS: 'done'

describe.skipIf(relay === null && !inCi)(`the native relay's events${relay === null ? ' (skipped: the native relay is not built)' : ''}`, () => {
  it('a close whose handler throws does not lose the batch\'s other closes; the error is thrown after them', () => {
    const inner = relay as unknown as { connections: Map<number, NativeSink>; onEvents(events: Float64Array): void };
    const closed: Array<[number, NativeReason]> = [];
    const sink = (id: number, throws: boolean): NativeSink => ({
      relayConnected: () => undefined,
      relayDetached: () => undefined,
      relayClosed: (_received, _sent, reason) => {
        closed.push([id, reason]);
        if (throws) throw new Error(`sink ${id} failed`);
      },
    });
    // ids the threads never gave out
    const ids = [2 ** 52 + 1, 2 ** 52 + 2, 2 ** 52 + 3];
    ids.forEach((id, i) => inner.connections.set(id, sink(id, i === 0)));
    const batch = new Float64Array(ids.flatMap((id) => [id, CLOSED, DONE, 10, 20, 0, 0]));
    expect(() => inner.onEvents(batch)).toThrow(`sink ${ids[0]} failed`);
    expect(closed).toEqual(ids.map((id) => [id, 'done']));
    for (const id of ids) expect(inner.connections.has(id)).toBe(false);
  });
});
