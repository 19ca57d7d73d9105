// The start's check of stored documents (src/control/documents.ts checkDocuments): the hand check
// that spares a claim its schema parse passes exactly what the schema passes, and a claim it does
// not pass is refused with the schema's message, naming it; the stored toxics (kind `fault`) likewise.
import { describe, expect, it } from 'vitest';
import { checkDocuments } from '../../src/control/documents.js';
import { emptyDocuments, StoreError } from '../../src/store/store.js';

const withClaim = (doc: unknown) => {
  const snap = emptyDocuments();
  snap.get('claim')!.set('snat/198.19.128.1', doc);
  return snap;
};

describe('checkDocuments on claims', () => {
  it.each([
    [{ holder: 'endpoint/e1' }],
    [{ holder: '?', more: 1 }],
    [{ holder: '' }],
  ])('passes %j, as its schema does', (doc) => {
    expect(() => checkDocuments(withClaim(doc), 'db')).not.toThrow();
  });

  it.each([
    [null, /expected object, received null/],
    [[], /expected object, received array/],
    ['endpoint/e1', /expected object, received string/],
    [{}, /holder: Invalid input: expected string, received undefined/],
    [{ holder: 7 }, /holder: Invalid input: expected string, received number/],
  ])('refuses %j with the schema\'s message, naming the claim', (doc, message) => {
    const run = () => checkDocuments(withClaim(doc), 'db');
    expect(run).toThrow(StoreError);
    expect(run).toThrow(/the stored claim snat\/198\.19\.128\.1 is malformed/);
    expect(run).toThrow(message);
  });
});

describe('checkDocuments on the stored toxics (kind fault)', () => {
  const withFaults = (doc: unknown) => {
    const snap = emptyDocuments();
    snap.get('fault')!.set('toxics', doc);
    return snap;
  };
  const latency = { name: 'slow', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 100, jitter: 0 } };

  it('passes toxics of every scope and the proxies taken down', () => {
    const toxics = [{ kind: 'port', endpoint: 'e1', port: 80 }, { kind: 'endpoint', endpoint: 'e1' }, { kind: 'service', service: 's1' }, { kind: 'zone', zone: 'az1' }, { kind: 'all' }]
      .map((scope) => ({ scope, toxic: latency }));
    expect(() => checkDocuments(withFaults({ toxics, disabled: ['e1:80'] }), 'db')).not.toThrow();
  });

  it.each([
    [{ toxics: [] }, /disabled/],
    [{ toxics: [{ scope: { kind: 'port', endpoint: 'e1' }, toxic: latency }], disabled: [] }, /toxics\.0\.scope\.port/],
    [{ toxics: [{ scope: { kind: 'all' }, toxic: { ...latency, type: 'nope' } }], disabled: [] }, /toxics\.0\.toxic\.type/],
    [{ toxics: [{ scope: { kind: 'all' }, toxic: { ...latency, toxicity: 2 } }], disabled: [] }, /toxics\.0\.toxic\.toxicity/],
  ])('refuses %j, naming the document and the field', (doc, message) => {
    const run = () => checkDocuments(withFaults(doc), 'db');
    expect(run).toThrow(/the stored fault toxics is malformed/);
    expect(run).toThrow(message);
  });
});
