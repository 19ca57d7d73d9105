// IPv4 address math. Parsing is ipaddr.js's (strict dotted quads only); the arithmetic is on
// unsigned 32-bit integers so that range checks and lookups stay cheap.
import ipaddr from 'ipaddr.js';

export interface Cidr {
  /** network address as an unsigned 32-bit integer */
  readonly base: number;
  readonly prefix: number;
  /** canonical text, e.g. 192.168.0.0/16 */
  readonly text: string;
}

export function isIpv4(text: string): boolean {
  return typeof text === 'string' && ipaddr.IPv4.isValidFourPartDecimal(text);
}

/**
 * An IPv6 address or CIDR as canonical CIDR text (`2001:db8::/32`; a bare address `/128`), or null.
 * Nothing here routes IPv6: what takes one (an IAM IP condition) keeps it, and it matches no client.
 */
export function ipv6CidrText(text: string): string | null {
  try {
    const [addr, prefix] = text.includes('/') ? ipaddr.IPv6.parseCIDR(text) : [ipaddr.IPv6.parse(text), 128];
    return `${ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${prefix}`).toString()}/${prefix}`;
  } catch {
    return null;
  }
}

/**
 * a.b.c.d -> uint32. A canonical dotted quad (decimal, no leading zero) is read by hand: this runs
 * per connection (the relay's backend and source, PROXY v2) and per address allocated, where
 * ipaddr.js's parser took most of a connection's TypeScript time. Anything else goes to ipaddr.js
 * (its other forms, its errors).
 */
export function ipToInt(text: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return ipToIntSlow(text);
      n = (n << 8) | part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return ipToIntSlow(text); // a leading zero: ipaddr.js reads it as octal
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return ipToIntSlow(text);
    } else {
      return ipToIntSlow(text);
    }
  }
  if (dots !== 3 || digits === 0) return ipToIntSlow(text);
  return ((n << 8) | part) >>> 0;
}

function ipToIntSlow(text: string): number {
  const b = ipaddr.IPv4.parse(text).octets;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** an address a host can have: not 0.0.0.0/8 (this network), multicast 224.0.0.0/4, nor 240.0.0.0/4 (reserved, the broadcast) */
export function isUnicastHost(text: string): boolean {
  if (!isIpv4(text)) return false;
  const first = ipToInt(text) >>> 24;
  return first !== 0 && first < 224;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

/**
 * Parses "a.b.c.d/n". With `strict`, host bits must be zero (a VPC or subnet CIDR); without it
 * they are cleared (a whitelist entry). A bare address is a /32 when `allowBare` is set.
 */
export function parseCidr(text: unknown, opts: { strict?: boolean; allowBare?: boolean } = {}): CidrParse {
  if (typeof text !== 'string') return { ok: false, reason: 'not a string' };
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bits = slash < 0 ? '32' : text.slice(slash + 1);
  if (slash < 0 && !opts.allowBare) return { ok: false, reason: `${JSON.stringify(text)} is not a CIDR (a.b.c.d/n)` };
  if (!isIpv4(addr)) return { ok: false, reason: `${JSON.stringify(addr)} is not an IPv4 address` };
  if (!/^(3[0-2]|[12]?\d)$/.test(bits)) return { ok: false, reason: `prefix length ${JSON.stringify(bits)} is not 0-32` };
  const prefix = Number(bits);
  const ip = ipToInt(addr);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (opts.strict && base !== ip) {
    return { ok: false, reason: `${text} has host bits set (the network is ${intToIp(base)}/${prefix})` };
  }
  return { ok: true, cidr: { base, prefix, text: `${intToIp(base)}/${prefix}` } };
}

export function cidrOf(text: string): Cidr {
  const r = parseCidr(text, { allowBare: true });
  if (!r.ok) throw new Error(r.reason);
  return r.cidr;
}

export function lastAddress(c: Cidr): number {
  return (c.base | (~maskOf(c.prefix) >>> 0)) >>> 0;
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

/** true when `inner` lies wholly inside `outer` */
export function cidrCovers(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.base);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrCovers(a, b) || cidrCovers(b, a);
}

/** 000_9af245a83013c30f.txt 1.7: endpoint traffic is SNATed into 198.19.128.0/17, so no VPC may use it. */
export const SNAT_RANGE: Cidr = cidrOf('198.19.128.0/17');
