// The start's check of stored documents (src/control/documents.ts checkDocuments): the hand check
// that spares a claim its schema parse passes exactly what the schema passes, and a claim it does
// not pass is refused with the schema's message, naming it.
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
