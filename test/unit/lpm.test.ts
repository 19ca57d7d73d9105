import { describe, expect, it } from 'vitest';
import { cidrOf, intToIp, ipToInt } from '../../src/net/cidr.js';
import { PrefixTable } from '../../src/net/lpm.js';

describe('longest-prefix match', () => {
  it('picks the most specific prefix that holds the address', () => {
    const t = new PrefixTable<string>();
    t.set(cidrOf('0.0.0.0/0'), 'igw');
    t.set(cidrOf('54.123.160.0/19'), 'endpoint');
    t.set(cidrOf('54.123.165.0/24'), 'igw-specific');
    expect(t.lookup(ipToInt('54.123.165.10'))!.value).toBe('igw-specific');
    expect(t.lookup(ipToInt('54.123.170.10'))!.value).toBe('endpoint');
    expect(t.lookup(ipToInt('8.8.8.8'))!.value).toBe('igw');
    expect(t.matches(ipToInt('54.123.165.10')).map((m) => `${intToIp(m.base)}/${m.prefix}`))
      .toEqual(['54.123.165.0/24', '54.123.160.0/19', '0.0.0.0/0']);
  });

  it('forgets deleted prefixes and answers null with no match', () => {
    const t = new PrefixTable<number>();
    t.set(cidrOf('10.0.0.0/8'), 1);
    t.set(cidrOf('10.1.0.0/16'), 2);
    expect(t.size).toBe(2);
    expect(t.delete(cidrOf('10.1.0.0/16'))).toBe(true);
    expect(t.delete(cidrOf('10.1.0.0/16'))).toBe(false);
    expect(t.lookup(ipToInt('10.1.2.3'))!.value).toBe(1);
    expect(t.lookup(ipToInt('11.0.0.1'))).toBeNull();
    expect(t.size).toBe(1);
  });

  it('agrees with a linear scan over 10,000 random routes', () => {
    let seed = 42;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const t = new PrefixTable<string>();
    const routes: Array<{ base: number; prefix: number }> = [];
    for (let i = 0; i < 10_000; i++) {
      const prefix = 8 + Math.floor(rand() * 25);
      const c = cidrOf(`${intToIp(Math.floor(rand() * 2 ** 32))}/${prefix}`);
      t.set(c, c.text);
      routes.push(c);
    }
    for (let i = 0; i < 2_000; i++) {
      const ip = Math.floor(rand() * 2 ** 32) >>> 0;
      let best: { base: number; prefix: number } | null = null;
      for (const r of routes) {
        const mask = r.prefix === 0 ? 0 : (0xffffffff << (32 - r.prefix)) >>> 0;
        if (((ip & mask) >>> 0) === r.base && (!best || r.prefix > best.prefix)) best = r;
      }
      const got = t.lookup(ip);
      expect(got ? `${intToIp(got.base)}/${got.prefix}` : null).toBe(best ? `${intToIp(best.base)}/${best.prefix}` : null);
    }
  });
});
