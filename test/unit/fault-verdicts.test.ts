// A proxy enabled again through a node that does not serve it (src/control/fault-verdicts.ts): the
// answering node owes its client the owner's verdict only on a fleet, only for proxies another live
// node serves, and answers the owner's refusal, its consent, or, past the bound, the stored state.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { awaitVerdicts, verdictsOwed } from '../../src/control/fault-verdicts.js';
import type { ControlState } from '../../src/control/state.js';
import { DEFAULTS } from '../../src/model/defaults.js';
import { DomainError } from '../../src/model/errors.js';
import type { FaultVerdict, InjectedFaults } from '../../src/model/toxics.js';

/** the parts of a ControlState fault-verdicts.ts reads: node `self` among MEMBERS, endpoint `ep-<n>` served by node n */
function state(members: string[], self: string | null = 'n1') {
  const warnings: string[] = [];
  const st = {
    nodeId: self ?? undefined,
    fleet: { nodes: () => members.map((id) => ({ id })) },
    endpoints: new Map(['n1', 'n2', 'n3'].map((n) => [`ep-${n}`, { id: `ep-${n}`, node: n }])),
    faultVerdicts: new Map<string, FaultVerdict>(),
    log: { info: () => undefined, warn: (_: object, msg: string) => { warnings.push(msg); } },
  };
  return { st: st as unknown as ControlState, verdicts: st.faultVerdicts, warnings };
}

const faults = (...disabled: string[]): InjectedFaults => ({ toxics: [], disabled });

afterEach(() => { vi.useRealTimers(); });

describe('verdictsOwed', () => {
  it('a proxy enabled again that another live node serves: its owner, at the revision stored', () => {
    const { st } = state(['n1', 'n2']);
    expect(verdictsOwed(st, faults('ep-n2:80', 'ep-n1:80'), faults('ep-n1:80'), 42)).toEqual({ revision: 42, owners: new Map([['ep-n2:80', 'n2']]) });
  });

  it('none for a proxy this node serves, one taken down, one whose owner is not live, or off a fleet', () => {
    expect(verdictsOwed(state(['n1', 'n2']).st, faults('ep-n1:80'), faults(), 7)).toBeUndefined();
    expect(verdictsOwed(state(['n1', 'n2']).st, faults(), faults('ep-n2:80'), 7)).toBeUndefined();
    expect(verdictsOwed(state(['n1', 'n2']).st, faults('ep-n3:80'), faults(), 7)).toBeUndefined();
    // a single node (SQLite: no node id) waits for nothing
    expect(verdictsOwed(state(['n1', 'n2'], null).st, faults('ep-n2:80'), faults(), 7)).toBeUndefined();
  });
});

describe('awaitVerdicts', () => {
  const owed = { revision: 10, owners: new Map([['ep-n2:80', 'n2']]) };

  it("answers the owner's refusal once its verdict covers the change; an older verdict is not it", async () => {
    const { st, verdicts } = state(['n1', 'n2']);
    verdicts.set('n2', { node: 'n2', revision: 9, refused: [{ proxy: 'ep-n2:80', name: 'ListenFailed', message: 'old' }] });
    setTimeout(() => verdicts.set('n2', { node: 'n2', revision: 11, refused: [{ proxy: 'ep-n2:80', name: 'ListenFailed', message: 'cannot listen on 127.2.1.9:80: EADDRINUSE' }] }), 30);
    const err = await awaitVerdicts(st, owed).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ name: 'ListenFailed', message: 'cannot listen on 127.2.1.9:80: EADDRINUSE' });
  });

  it('answers once the owner took it', async () => {
    const { st, verdicts, warnings } = state(['n1', 'n2']);
    setTimeout(() => verdicts.set('n2', { node: 'n2', revision: 10, refused: [] }), 30);
    await expect(awaitVerdicts(st, owed)).resolves.toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('past the bound, the change stands as stored, logged', async () => {
    vi.useFakeTimers();
    const { st, warnings } = state(['n1', 'n2']);
    let done = false;
    void awaitVerdicts(st, owed).then(() => { done = true; });
    await vi.advanceTimersByTimeAsync(DEFAULTS.fleet.faultVerdictWaitMs - 20);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(40);
    expect(done).toBe(true);
    expect(warnings).toEqual(['fleet: no verdict from the node serving a proxy enabled again: answered as stored']);
  });
});
