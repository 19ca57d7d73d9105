import { describe, expect, it } from 'vitest';
import { cidrCovers, cidrOf, cidrsOverlap, intToIp, ipToInt, parseCidr, SNAT_RANGE } from '../../src/net/cidr.js';
import { listenReason } from '../../src/net/listen-error.js';
import { hostAddress, parseHostAddress, simulatedAddress } from '../../src/net/loopback.js';

describe('CIDR parsing', () => {
  it.each([
    ['192.168.0.0/16', true],
    ['10.0.0.0/8', true],
    ['0.0.0.0/0', true],
    ['192.168.0.1/16', false], // host bits set, strict
    ['192.168.0/16', false],
    ['192.168.0.0/33', false],
    ['192.168.0.0/', false],
    ['192.168.0.0', false], // bare address without allowBare
    ['01.2.3.0/24', false], // no octal-looking octets
    ['1.2.3.256/32', false],
  ])('%s strict -> %s', (text, ok) => {
    expect(parseCidr(text, { strict: true }).ok).toBe(ok);
  });

  it('clears host bits without strict and accepts bare addresses as /32 with allowBare', () => {
    const r = parseCidr('10.1.2.3/8');
    expect(r.ok && r.cidr.text).toBe('10.0.0.0/8');
    const b = parseCidr('10.1.2.3', { allowBare: true });
    expect(b.ok && b.cidr.text).toBe('10.1.2.3/32');
  });

  it('says why a CIDR is bad', () => {
    const r = parseCidr('192.168.0.1/16', { strict: true });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/host bits set.*192\.168\.0\.0\/16/);
  });

  it('converts addresses both ways', () => {
    expect(ipToInt('255.255.255.255')).toBe(0xffffffff);
    expect(ipToInt('0.0.0.0')).toBe(0);
    expect(ipToInt('10.0.100.9')).toBe(0x0a006409);
    expect(intToIp(ipToInt('198.19.128.7'))).toBe('198.19.128.7');
  });

  it('tells overlap and cover apart', () => {
    expect(cidrsOverlap(cidrOf('198.19.0.0/16'), SNAT_RANGE)).toBe(true);
    expect(cidrsOverlap(cidrOf('198.19.0.0/17'), SNAT_RANGE)).toBe(false);
    expect(cidrCovers(cidrOf('10.0.0.0/16'), cidrOf('10.0.1.0/24'))).toBe(true);
    expect(cidrCovers(cidrOf('10.0.1.0/24'), cidrOf('10.0.0.0/16'))).toBe(false);
  });
});

describe('loopback addressing', () => {
  it('maps a.b.c.d in VPC k to 127.k.c.d and back', () => {
    const ip = ipToInt('192.168.24.246');
    expect(hostAddress(3, ip)).toBe('127.3.24.246');
    const parts = parseHostAddress('127.3.24.246')!;
    expect(parts).toEqual({ k: 3, low16: (24 << 8) | 246 });
    expect(intToIp(simulatedAddress(ipToInt('192.168.0.0'), parts.low16))).toBe('192.168.24.246');
  });

  it('reads IPv4-mapped IPv6 peers and refuses addresses outside 127.1-255', () => {
    expect(parseHostAddress('::ffff:127.2.0.5')).toEqual({ k: 2, low16: 5 });
    expect(parseHostAddress('127.0.0.1')).toBeNull();
    expect(parseHostAddress('10.0.0.1')).toBeNull();
    expect(parseHostAddress('127.1.300.1')).toBeNull();
  });
});

describe('ipToInt read by hand', () => {
  it('agrees with ipaddr.js on every form, its errors included', async () => {
    const { default: ipaddr } = await import('ipaddr.js');
    const slow = (t: string) => {
      const b = ipaddr.IPv4.parse(t).octets;
      return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    };
    for (const t of ['127.1.2.3', '0.0.0.0', '255.255.255.255', '198.19.255.254', '010.1.1.1', '0x7f.0.0.1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '.1.2.3', '1.2.3.', '', 'a.b.c.d', '1.2.3.4 ', '01.2.3.4', '1.2.3.0400']) {
      let expected: number | string;
      try { expected = slow(t); } catch (err) { expected = (err as Error).message; }
      let got: number | string;
      try { got = ipToInt(t); } catch (err) { got = (err as Error).message; }
      expect(got, JSON.stringify(t)).toBe(expected);
    }
  });
});

describe('listen errors', () => {
  const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`listen ${code}`), { code });

  it('EACCES below 1024 is a privileged port, with the capability fix', () => {
    const r = listenReason(errno('EACCES'), 80);
    expect(r.privileged).toBe(true);
    expect(r.text).toMatch(/^permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE/);
  });

  it('EACCES on a port of 1024 or above is a privileged port too (EndPoint.0011, not 0012), naming net.ipv4.ip_unprivileged_port_start', () => {
    // the defect: a bind refused on port 1500 under a raised sysctl read "EACCES (permission denied)", an address failure
    const r = listenReason(errno('EACCES'), 1500);
    expect(r.privileged).toBe(true);
    expect(r.text).toMatch(/^permission denied: ports below net\.ipv4\.ip_unprivileged_port_start \(raised above 1024 here.*\) need root or CAP_NET_BIND_SERVICE.*or lower that sysctl/);
  });

  it('EADDRINUSE is not a privilege matter', () => {
    expect(listenReason(errno('EADDRINUSE'), 1500)).toEqual({ privileged: false, text: expect.stringMatching(/^EADDRINUSE \(address in use/) });
  });
});
