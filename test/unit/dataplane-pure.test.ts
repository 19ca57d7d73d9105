// The pure pieces of the data plane: PROXY v2 encoding, SNAT allocation, admission.
import { V2ProxyProtocol } from 'proxy-protocol-js';
import { describe, expect, it } from 'vitest';
import { admit, REFUSAL_REASONS, whitelisted, type EndpointGate } from '../../src/dataplane/admission.js';
import { CLOSE_REASONS } from '../../src/dataplane/connection.js';
import { newCounters } from '../../src/dataplane/endpoint-runtime.js';
import { FD_RESERVE, fdReserveFor } from '../../src/dataplane/fd-limit.js';
import { clientVpcNumber, clientVpcOf } from '../../src/model/isolation.js';
import { cidrOf, ipToInt } from '../../src/net/cidr.js';
import { hostNumber, peerIp } from '../../src/net/loopback.js';
import { encodeProxyV2, PP2_TYPE_MARKER_ID, PP2_TYPE_VPCE } from '../../src/net/proxy-v2.js';
import { allocateSnatIp, SnatPortPool } from '../../src/net/snat-pool.js';

describe('PROXY v2 header', () => {
  const fields = {
    sourceIp: ipToInt('10.0.1.50'), sourcePort: 40123, destinationIp: ipToInt('10.0.1.2'), destinationPort: 80,
    endpointId: '2c8902ac-e991-4a27-8e02-471bdcb3da14', markerId: 916444055,
  };

  it('parses with an independent parser (proxy-protocol-js) to the same addresses and ports', () => {
    const p = V2ProxyProtocol.parse(encodeProxyV2(fields));
    const addr = p.proxyAddress as any;
    expect(addr.sourceAddress.address).toEqual([10, 0, 1, 50]);
    expect(addr.sourcePort).toBe(40123);
    expect(addr.destinationAddress.address).toEqual([10, 0, 1, 2]);
    expect(addr.destinationPort).toBe(80);
  });

  it('carries the endpoint id (0xEA, subtype 0x01) and the marker id (0xE1) as TLVs', () => {
    const b = encodeProxyV2(fields);
    expect(b.readUInt16BE(14)).toBe(b.length - 16);
    const tlvs = new Map<number, Buffer>();
    for (let o = 28; o < b.length;) {
      const len = b.readUInt16BE(o + 1);
      tlvs.set(b[o]!, b.subarray(o + 3, o + 3 + len));
      o += 3 + len;
    }
    const vpce = tlvs.get(PP2_TYPE_VPCE)!;
    expect(vpce[0]).toBe(0x01);
    expect(vpce.subarray(1).toString('ascii')).toBe(fields.endpointId);
    expect(tlvs.get(PP2_TYPE_MARKER_ID)!.readUInt32BE(0)).toBe(916444055);
  });
});

describe('SNAT addresses and ports', () => {
  it('hands out 198.19.128.0/17 from its first host address and skips used ones', () => {
    expect(allocateSnatIp(new Set())).toBe('198.19.128.1');
    expect(allocateSnatIp(new Set(['198.19.128.1', '198.19.128.2']))).toBe('198.19.128.3');
  });

  it('finds a gap past the first 32 addresses (one bit per address, scanned by words)', () => {
    const used = new Set<string>();
    for (let i = 1; i <= 40; i++) if (i !== 33) used.add(`198.19.128.${i}`);
    expect(allocateSnatIp(used)).toBe('198.19.128.33');
    used.add('198.19.128.33');
    expect(allocateSnatIp(used)).toBe('198.19.128.41');
    expect(allocateSnatIp(['10.0.0.1', '198.19.128.1'])).toBe('198.19.128.2');
  });

  it('runs out after the last address', () => {
    const used = new Set<string>();
    for (let i = 1; i < 32767; i++) used.add(`198.19.${128 + (i >> 8)}.${i & 255}`);
    expect(allocateSnatIp(used)).toBeNull();
  });

  it('gives every port once, takes them back, and says 0 when exhausted', () => {
    const pool = new SnatPortPool(1024, 1027);
    expect([pool.take(), pool.take(), pool.take(), pool.take()]).toEqual([1024, 1025, 1026, 1027]);
    expect(pool.take()).toBe(0);
    expect(pool.inUse).toBe(4);
    pool.give(1025);
    pool.give(1024);
    // first in, first out: a port returns to use as late as possible
    expect([pool.take(), pool.take(), pool.take()]).toEqual([1025, 1024, 0]);
  });

  it('hands out ports as a ring of every port filled up front would, through wrap-arounds and a growing queue', () => {
    for (const [low, high] of [[1024, 1040], [1, 9], [65530, 65535], [20000, 20100]] as const) {
      const pool = new SnatPortPool(low, high);
      const model: number[] = [];
      for (let p = low; p <= high; p++) model.push(p);
      const held: number[] = [];
      let seed = low + 7;
      for (let step = 0; step < 5000; step++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        if (seed % 3 !== 0 || held.length === 0) {
          const want = model.shift() ?? 0;
          const got = pool.take();
          expect(got, `${low}-${high} step ${step}`).toBe(want);
          if (got) held.push(got);
        } else {
          const port = held.splice(seed % held.length, 1)[0]!;
          pool.give(port);
          model.push(port);
        }
      }
      expect(pool.inUse).toBe(held.length);
    }
    // all 100 taken and given back in reverse: the queue grows past its first size, and keeps the order
    const pool = new SnatPortPool(30000, 30099);
    const back = Array.from({ length: 100 }, () => pool.take()).reverse();
    for (const port of back) pool.give(port);
    expect(pool.left).toBe(100);
    expect(Array.from({ length: 100 }, () => pool.take())).toEqual(back);
    expect([pool.take(), pool.left, pool.inUse]).toEqual([0, 0, 100]);
  });
});

describe('admission', () => {
  const gate = (o: Partial<EndpointGate> = {}): EndpointGate => ({
    active: 0, cap: 3000, whitelistEnabled: false, whitelist: [], vpcNumber: 2, vpcBase: ipToInt('10.0.0.0'), securityRules: null, ...o,
  });
  const load = { active: 0, maxConnections: 1_000_000, fdBudget: 19_000, listeners: 0, onPremises: 'allow' as const };
  /** admission reads the client's host address as an integer, as the relay hands it over */
  const ip = peerIp;

  it('admits up to the cap and refuses the next', () => {
    expect(admit(gate({ active: 2999 }), load, ip('127.2.1.5'), 2, 80)).toBeNull();
    expect(admit(gate({ active: 3000 }), load, ip('127.2.1.5'), 2, 80)).toBe('cap');
  });

  it('refuses at the daemon-wide ceiling and before the open-file limit', () => {
    expect(admit(gate(), { ...load, active: 10, maxConnections: 10 }, ip('127.2.1.5'), 2, 80)).toBe('daemon_limit');
    expect(admit(gate(), { ...load, active: 9_500, fdBudget: 19_000 }, ip('127.2.1.5'), 2, 80)).toBe('fd_limit');
    expect(admit(gate(), { ...load, active: 9_499, fdBudget: 19_000 }, ip('127.2.1.5'), 2, 80)).toBeNull();
  });

  it('listeners count in the descriptor budget: 2,000 listeners leave room for 1,000 fewer connections', () => {
    expect(admit(gate(), { ...load, active: 8_500, fdBudget: 19_000, listeners: 2_000 }, ip('127.2.1.5'), 2, 80)).toBe('fd_limit');
    expect(admit(gate(), { ...load, active: 8_499, fdBudget: 19_000, listeners: 2_000 }, ip('127.2.1.5'), 2, 80)).toBeNull();
  });

  it('isolation: a client of another VPC is refused (vpc); one outside every VPC is allowed, or refused (on_premises) when denied', () => {
    expect(admit(gate(), load, ip('127.3.1.5'), 3, 80)).toBe('vpc');
    expect(admit(gate(), load, ip('127.0.0.1'), null, 80)).toBeNull();
    expect(admit(gate(), { ...load, onPremises: 'deny' }, ip('127.0.0.1'), null, 80)).toBe('on_premises');
    expect(admit(gate(), { ...load, onPremises: 'deny' }, ip('127.2.1.5'), 2, 80)).toBeNull();
    const vpcs = new Set([1, 2, 3]);
    expect(clientVpcNumber('127.2.1.5', (k) => vpcs.has(k))).toBe(2);
    expect(clientVpcNumber('::ffff:127.3.0.9', (k) => vpcs.has(k))).toBe(3);
    expect(clientVpcNumber('127.0.0.1', (k) => vpcs.has(k))).toBeNull(); // the host
    expect(clientVpcNumber('127.9.0.1', (k) => vpcs.has(k))).toBeNull(); // no VPC numbered 9
    expect(clientVpcNumber('127.255.0.10', () => true)).toBeNull(); // a public address
    expect(clientVpcNumber('10.0.0.1', () => true)).toBeNull();
    // the integer form, on the per-connection path, answers the same
    for (const host of ['127.2.1.5', '127.3.0.9', '127.0.0.1', '127.9.0.1', '127.255.0.10', '10.0.0.1']) {
      expect(clientVpcOf(ipToInt(host), (k) => vpcs.has(k)), host).toBe(clientVpcNumber(host, (k) => vpcs.has(k)));
    }
    expect([hostNumber(ipToInt('127.2.1.5')), hostNumber(ipToInt('127.0.0.1')), hostNumber(ipToInt('127.255.0.1')), hostNumber(ipToInt('10.2.1.5'))]).toEqual([2, 0, 255, 0]);
    expect([peerIp('::ffff:127.3.0.9'), peerIp('::1'), peerIp('')]).toEqual([ipToInt('127.3.0.9'), 0, 0]);
  });

  it('checks the simulated source address against the whitelist, in the endpoint\'s VPC only', () => {
    const g = gate({ whitelistEnabled: true, whitelist: [cidrOf('10.0.1.50/32'), cidrOf('10.0.2.0/24')] });
    expect(whitelisted(g, ip('127.2.1.50'))).toBe(true);
    expect(whitelisted(g, ip('::ffff:127.2.2.9'))).toBe(true);
    expect(whitelisted(g, ip('127.2.1.51'))).toBe(false);
    expect(whitelisted(g, ip('127.3.1.50'))).toBe(false); // same c.d, another VPC
    expect(whitelisted(g, ip('127.0.0.1'))).toBe(false); // outside every VPC
    expect(admit(g, load, ip('127.2.1.51'), 2, 80)).toBe('whitelist');
    expect(admit({ ...g, whitelistEnabled: false }, load, ip('127.2.1.51'), 2, 80)).toBeNull();
  });
});

describe('per-endpoint counters', () => {
  it('start at zero with every refusal and close reason, in the order of the lists (written out as literals: one shape for every endpoint)', () => {
    const c = newCounters();
    expect(Object.keys(c.rejected)).toEqual(REFUSAL_REASONS);
    expect(Object.keys(c.closed)).toEqual(CLOSE_REASONS);
    expect([...Object.values(c.rejected), ...Object.values(c.closed), c.connections, c.receivedBytes, c.sentBytes].every((n) => n === 0)).toBe(true);
    expect(newCounters().rejected).not.toBe(c.rejected);
  });
});

describe('the descriptor reserve', () => {
  it('covers every socket the API may hold: 256 by default, api.max_connections + 64 when that is more', () => {
    expect(fdReserveFor(128)).toBe(FD_RESERVE);
    expect(fdReserveFor(192)).toBe(256);
    expect(fdReserveFor(1000)).toBe(1064);
  });
});
