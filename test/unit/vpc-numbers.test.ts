// A new VPC's loopback number (src/net/loopback.ts pickVpcNumber): the lowest never handed out,
// a deleted VPC's retired until every other number has been handed out, then the oldest retired.
import { describe, expect, it } from 'vitest';
import { MAX_VPC_NUMBER, pickVpcNumber } from '../../src/net/loopback.js';

describe('picking a VPC number', () => {
  it('takes the lowest number neither in use nor retired', () => {
    expect(pickVpcNumber(new Set([1, 2, 4]), { 3: 100 })).toEqual({ number: 5 });
    expect(pickVpcNumber(new Set(), {})).toEqual({ number: 1 });
  });

  it('once every number has been handed out, the one retired longest ago (the lower on a tie), taken out of the retired set', () => {
    const used = new Set(Array.from({ length: MAX_VPC_NUMBER }, (_, i) => i + 1));
    for (const n of [7, 9, 12]) used.delete(n);
    expect(pickVpcNumber(used, { 7: 300, 9: 100, 12: 200 })).toEqual({ number: 9, retired: { 7: 300, 12: 200 } });
    expect(pickVpcNumber(used, { 7: 100, 9: 300, 12: 100 })).toEqual({ number: 7, retired: { 9: 300, 12: 100 } });
  });

  it('a retired number in use again (a config VPC took it) is not handed out; none left: null', () => {
    const used = new Set(Array.from({ length: MAX_VPC_NUMBER }, (_, i) => i + 1));
    expect(pickVpcNumber(used, { 5: 1 })).toBeNull();
    used.delete(5);
    expect(pickVpcNumber(used, { 5: 1, 6: 0 })).toEqual({ number: 5, retired: { 6: 0 } });
  });
});
