// Toxics without sockets (the `faults` config keys: config.test.ts): Toxiproxy's fields with its defaults and
// vpcep-sim's ceilings (src/model/toxics.ts), scopes and proxy names, the Toxiproxy dialect's
// status table, and the transforms' timing on the real clock with small figures.
import { describe, expect, it } from 'vitest';
import { TOXIPROXY_STATUS } from '../../src/api/toxiproxy/errors.js';
import { CLOSE_LINK, makeTransform, type ToxicHost } from '../../src/dataplane/toxics/transforms.js';
import { DomainError, ERROR_NAMES } from '../../src/model/errors.js';
import { parseProxyName, parseScopeKey, parseToxic, scopeCovers, scopeKey, TOXIC_ATTRIBUTES, TOXIC_TYPES, updateToxic } from '../../src/model/toxics.js';

/** the message of the InvalidParameter FN throws */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).name).toBe('InvalidParameter');
    return (err as Error).message;
  }
  throw new Error('no refusal');
}

describe('toxics', () => {
  it('takes Toxiproxy\'s defaults: stream downstream, toxicity 1, name <type>_<stream>, attributes left out 0', () => {
    expect(parseToxic({ type: 'latency' })).toEqual({ name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 0, jitter: 0 } });
    expect(parseToxic({ type: 'limit_data', stream: 'upstream', toxicity: 0, name: 'cap', attributes: { bytes: 5 } }))
      .toEqual({ name: 'cap', type: 'limit_data', stream: 'upstream', toxicity: 0, attributes: { bytes: 5 } });
    for (const type of TOXIC_TYPES) expect(Object.keys(parseToxic({ type, ...(type === 'slicer' ? { attributes: { average_size: 1 } } : {}) }).attributes)).toEqual(Object.keys(TOXIC_ATTRIBUTES[type]));
  });

  it('refuses an unknown type, field or attribute, a negative, fractional or absurd attribute, a toxicity outside 0-1, naming it', () => {
    expect(refusal(() => parseToxic({ type: 'lag' }))).toMatch(/^invalid toxic type "lag": latency, bandwidth/);
    expect(refusal(() => parseToxic(null))).toMatch(/JSON object/);
    expect(refusal(() => parseToxic({ type: 'latency', colour: 1 }))).toMatch(/unknown field "colour"/);
    expect(refusal(() => parseToxic({ type: 'latency', attributes: { rate: 1 } }))).toMatch(/unknown attribute "rate" of a latency toxic: latency, jitter/);
    expect(refusal(() => parseToxic({ type: 'latency', attributes: { latency: -1 } }))).toMatch(/latency of a latency toxic must be an integer 0-3600000 \(ms\)/);
    expect(refusal(() => parseToxic({ type: 'latency', attributes: { latency: 1.5 } }))).toMatch(/must be an integer/);
    expect(refusal(() => parseToxic({ type: 'bandwidth', attributes: { rate: 10_000_001 } }))).toMatch(/0-10000000 \(KB\/s\)/);
    expect(refusal(() => parseToxic({ type: 'latency', attributes: { latency: '5' } }))).toMatch(/not "5"/);
    expect(refusal(() => parseToxic({ type: 'slicer' }))).toMatch(/average_size of a slicer toxic must be at least 1/);
    expect(refusal(() => parseToxic({ type: 'slicer', attributes: { average_size: 10, size_variation: 10 } }))).toMatch(/size_variation .* less than average_size/);
    expect(refusal(() => parseToxic({ type: 'timeout', toxicity: 1.01 }))).toMatch(/toxicity must be a number 0-1/);
    expect(refusal(() => parseToxic({ type: 'timeout', toxicity: -0.1 }))).toMatch(/toxicity/);
    // JSON's 1e400 parses to Infinity, which JSON.stringify writes null: the message said "not null"
    expect(refusal(() => parseToxic({ type: 'timeout', toxicity: JSON.parse('1e400') }))).toMatch(/toxicity must be a number 0-1, not Infinity$/);
    expect(refusal(() => parseToxic({ type: 'latency', attributes: { latency: JSON.parse('-1e400') } }))).toMatch(/not -Infinity$/);
    expect(refusal(() => parseToxic({ type: 'timeout', stream: 'both' }))).toMatch(/stream must be upstream or downstream/);
    // any string, as Toxiproxy takes, of 1-256 characters with no control character (it took only A-Z a-z 0-9 _ . -)
    expect(refusal(() => parseToxic({ type: 'timeout', name: 'a\nb' }))).toMatch(/name must be a string of 1-256 characters, no control characters/);
    expect(refusal(() => parseToxic({ type: 'timeout', name: 'a\u0085b' }))).toMatch(/name must be/);
    expect(refusal(() => parseToxic({ type: 'timeout', name: 'x'.repeat(257) }))).toMatch(/name must be/);
    expect(refusal(() => parseToxic({ type: 'timeout', name: '\ud800' }))).toMatch(/name must be/);
    expect(refusal(() => parseToxic({ type: 'timeout', name: 5 }))).toMatch(/name must be/);
    // a path segment URL parsers resolve away, percent-encoded too: the CLI (fetch) could make such a toxic and not remove it
    for (const name of ['.', '..']) expect(refusal(() => parseToxic({ type: 'timeout', name }))).toMatch(/name must not be \. or \.\./);
    expect(parseToxic({ type: 'timeout', name: '...' }).name).toBe('...');
  });

  it('refuses attribute names of Object.prototype as unknown, on an add and an update (constructor was stored, __proto__ dropped)', () => {
    const t = parseToxic({ type: 'latency' });
    // as JSON.parse reads a body: __proto__ an own property, as any other name
    for (const key of ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__proto__']) {
      for (const attributes of [JSON.parse(`{"${key}": 5}`), JSON.parse(`{"${key}": {"rate": 0}}`)]) {
        expect(refusal(() => parseToxic({ type: 'bandwidth', attributes }))).toMatch(new RegExp(`^unknown attribute "${key}" of a bandwidth toxic: rate$`));
        expect(refusal(() => updateToxic(t, { attributes }))).toMatch(new RegExp(`^unknown attribute "${key}" of a latency toxic: latency, jitter$`));
      }
    }
  });

  it('takes any toxic name Toxiproxy takes, within 256 characters without control characters (it refused a space, / or :)', () => {
    for (const name of ['a b', 'db/primary:5432', 'x'.repeat(256), '😀'.repeat(256), 'latency?%#é']) expect(parseToxic({ type: 'timeout', name }).name).toBe(name);
  });

  it('updates toxicity and attributes, keeping the others; its name, type and stream cannot change', () => {
    const t = parseToxic({ type: 'latency', attributes: { latency: 100, jitter: 5 } });
    expect(updateToxic(t, { attributes: { jitter: 1 } })).toEqual({ ...t, attributes: { latency: 100, jitter: 1 } });
    expect(updateToxic(t, { toxicity: 0.25, type: 'latency' })).toEqual({ ...t, toxicity: 0.25 });
    expect(refusal(() => updateToxic(t, { type: 'bandwidth' }))).toMatch(/type cannot change/);
    expect(refusal(() => updateToxic(t, { stream: 'upstream' }))).toMatch(/stream cannot change/);
    expect(refusal(() => updateToxic(t, { attributes: { latency: -1 } }))).toMatch(/must be an integer/);
  });

  it('reads scopes and proxy names, and which connections a scope covers', () => {
    const target = { endpoint: 'vpce-1', service: 'svc-1', port: 80, zone: 'sim-1a' };
    const scopes = ['port:vpce-1:80', 'endpoint:vpce-1', 'service:svc-1', 'zone:sim-1a', 'all'];
    for (const key of scopes) {
      expect(scopeKey(parseScopeKey(key))).toBe(key);
      expect(scopeCovers(parseScopeKey(key), target)).toBe(true);
    }
    for (const key of ['port:vpce-1:81', 'endpoint:vpce-2', 'service:svc-2', 'zone:sim-1b']) expect(scopeCovers(parseScopeKey(key), target)).toBe(false);
    for (const bad of ['', 'everything', 'port:vpce-1', 'port:vpce-1:0', 'port:vpce-1:65536', 'zone:', 'endpoint:a/b', 7]) {
      expect(refusal(() => parseScopeKey(bad))).toMatch(/^scope must be port:<endpoint id>:<port>/);
    }
    expect(parseProxyName('vpce-1:80')).toEqual({ endpoint: 'vpce-1', port: 80 });
    expect(parseProxyName('vpce-1')).toBeNull();
    expect(parseProxyName('vpce-1:70000')).toBeNull();
  });

  it('the Toxiproxy dialect answers Toxiproxy\'s codes: 404 proxy or toxic not found, 409 toxic exists, 400 bad input', () => {
    expect(Object.keys(TOXIPROXY_STATUS).sort()).toEqual([...ERROR_NAMES].sort());
    expect([TOXIPROXY_STATUS.EndpointNotFound, TOXIPROXY_STATUS.ToxicNotFound, TOXIPROXY_STATUS.ToxicExists, TOXIPROXY_STATUS.InvalidParameter]).toEqual([404, 404, 409, 400]);
  });
});

describe('transforms', () => {
  const host = (): ToxicHost & { closed: number; resets: number } => {
    const h = { closed: 0, resets: 0, signal: new AbortController().signal, close() { h.closed++; }, reset() { h.resets++; } };
    return h;
  };
  const run = async (type: string, attributes: Record<string, number>, chunks: Buffer[], h = host()) => {
    const t = makeTransform(parseToxic({ type, attributes }), h, { passed: 0 });
    const out: Buffer[] = [];
    // limit_data's close travels down the stages as CLOSE_LINK: the link closes at the writer
    for (const c of chunks) await t.push(c, performance.now(), async (b) => { if (b === CLOSE_LINK) h.closed++; else out.push(b); });
    return out;
  };

  it('bandwidth passes a chunk in pieces of 100 ms at its rate', async () => {
    const t0 = performance.now();
    const out = await run('bandwidth', { rate: 100 }, [Buffer.alloc(25_000)]);
    const took = performance.now() - t0;
    expect(out.map((b) => b.length)).toEqual([10_000, 10_000, 5_000]);
    // three timers of 100, 100 and 50 ms: Node may fire each up to a millisecond early against performance.now()
    expect(took).toBeGreaterThanOrEqual(247);
    expect(took).toBeLessThan(500);
  });

  it('slicer cuts average_size ± size_variation; limit_data passes its bytes then closes', async () => {
    const sliced = await run('slicer', { average_size: 10, size_variation: 3 }, [Buffer.alloc(1_000)]);
    expect(sliced.reduce((n, b) => n + b.length, 0)).toBe(1_000);
    for (const b of sliced.slice(0, -1)) expect(b.length >= 7 && b.length <= 13).toBe(true);
    const h = host();
    const limited = await run('limit_data', { bytes: 15 }, [Buffer.alloc(10), Buffer.alloc(10), Buffer.alloc(10)], h);
    expect(limited.map((b) => b.length)).toEqual([10, 5]);
    expect(h.closed).toBeGreaterThanOrEqual(1);
  });

  it('limit_data counts from a state its updates share, and closes at once when nothing is left; timeout closes at its stream\'s end (its close passed on) and on removal', async () => {
    const state = { passed: 0 };
    const h = host();
    const out: Buffer[] = [];
    const emit = async (b: Buffer | typeof CLOSE_LINK) => { if (b === CLOSE_LINK) h.closed++; else out.push(b); };
    await makeTransform(parseToxic({ type: 'limit_data', attributes: { bytes: 10 } }), h, state).push(Buffer.alloc(8), 0, emit);
    // updated to 12: 4 more, not 12
    await makeTransform(parseToxic({ type: 'limit_data', attributes: { bytes: 12 } }), h, state).push(Buffer.alloc(8), 0, emit);
    expect([out.map((b) => b.length), h.closed]).toEqual([[8, 4], 1]);
    // updated under what passed: closed as it starts
    makeTransform(parseToxic({ type: 'limit_data', attributes: { bytes: 5 } }), h, state);
    await Promise.resolve();
    expect(h.closed).toBe(2);
    const t = makeTransform(parseToxic({ type: 'timeout', attributes: { timeout: 0 } }), h, { passed: 0 });
    // at the stream's end the close passes on, through the toxics after it
    expect(await t.end()).toBe(CLOSE_LINK);
    expect(h.closed).toBe(2);
    t.stop();
    t.removed();
    expect(h.closed).toBe(3);
  });

  it('reads stream in any case, as Toxiproxy does, and keeps it lower-case', () => {
    expect(parseToxic({ type: 'latency', stream: 'UPSTREAM' }).stream).toBe('upstream');
    expect(parseToxic({ type: 'latency', stream: 'DownStream' }).name).toBe('latency_downstream');
    expect(updateToxic(parseToxic({ type: 'latency', stream: 'upstream' }), { stream: 'UpStream', attributes: { latency: 5 } }).attributes.latency).toBe(5);
    expect(() => parseToxic({ type: 'latency', stream: 'sideways' })).toThrow(/stream must be upstream or downstream/);
  });
});
