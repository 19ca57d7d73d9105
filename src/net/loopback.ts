// How simulated addresses reach real sockets on one host: a simulated a.b.c.d in the VPC numbered
// k lives at 127.k.c.d. Every 127.0.0.0/8 address is local on Linux with no set-up, so every
// address of the simulated world can be bound and connected to. VPC CIDRs are /16 or longer, so
// c.d alone tells addresses of one VPC apart. Number 255 is reserved for operator-run public
// services (their simulated public addresses).

import { ipToInt, isIpv4 } from './cidr.js';

export const MIN_VPC_NUMBER = 1;
export const MAX_VPC_NUMBER = 254;
export const PUBLIC_NUMBER = 255;
/** the longest VPC CIDR prefix that still maps one-to-one onto 127.k.0.0/16 */
export const MAX_VPC_PREFIX = 16;

/** simulated IPv4 (as uint32) in VPC k -> host address text */
export function hostAddress(k: number, simulatedIp: number): string {
  return `127.${k}.${(simulatedIp >>> 8) & 255}.${simulatedIp & 255}`;
}

export interface HostAddressParts {
  /** the VPC number (or PUBLIC_NUMBER) */
  readonly k: number;
  /** the low 16 bits of the simulated address */
  readonly low16: number;
}

/**
 * the VPC number (or PUBLIC_NUMBER) of a host address as an integer (127.k.c.d), or 0 for an
 * address outside 127.1-255.x.x; its low 16 bits are `ip & 0xffff`. The integer form of
 * parseHostAddress, for the per-connection path (no text).
 */
export function hostNumber(ip: number): number {
  if (ip >>> 24 !== 127) return 0;
  const k = (ip >>> 16) & 255;
  return k < MIN_VPC_NUMBER ? 0 : k;
}

/** a peer's address as a socket reports it (::ffff:a.b.c.d on a dual-stack listener) -> an integer, or 0 when not IPv4 */
export function peerIp(text: string): number {
  const v4 = text.startsWith('::ffff:') ? text.slice(7) : text;
  return isIpv4(v4) ? ipToInt(v4) : 0;
}

/** host address text -> its VPC number and the low 16 bits, or null for an address outside 127.1-255.x.x */
export function parseHostAddress(host: string): HostAddressParts | null {
  // Sockets on a dual-stack listener report IPv4 peers as ::ffff:a.b.c.d.
  const text = host.startsWith('::ffff:') ? host.slice(7) : host;
  const parts = text.split('.');
  if (parts.length !== 4 || parts[0] !== '127') return null;
  const k = Number(parts[1]);
  const c = Number(parts[2]);
  const d = Number(parts[3]);
  if (!Number.isInteger(k) || k < MIN_VPC_NUMBER || k > PUBLIC_NUMBER) return null;
  if (!Number.isInteger(c) || !Number.isInteger(d) || c < 0 || c > 255 || d < 0 || d > 255) return null;
  return { k, low16: (c << 8) | d };
}

/** the simulated address of low16 inside a VPC whose network base is `vpcBase` (a /16 or longer) */
export function simulatedAddress(vpcBase: number, low16: number): number {
  return ((vpcBase & 0xffff0000) | low16) >>> 0;
}

/**
 * A new VPC's number: the lowest one never handed out (not in USED, the numbers of the VPCs that
 * exist or that the config holds, nor in RETIRED, those of deleted VPCs, each with when it was
 * retired), so that a stale client or DNS answer of a deleted VPC's 127.k addresses never lands
 * in another VPC; once every number has been handed out, the one retired longest ago. Returns the
 * number, and the retired set without it when it was a retired one (`retired` absent: unchanged);
 * null when every number is in use.
 */
export function pickVpcNumber(used: ReadonlySet<number>, retired: Readonly<Record<string, number>>): { number: number; retired?: Record<string, number> } | null {
  for (let n = MIN_VPC_NUMBER; n <= MAX_VPC_NUMBER; n++) {
    if (!used.has(n) && retired[n] === undefined) return { number: n };
  }
  let oldest: number | null = null;
  for (const [n, at] of Object.entries(retired)) {
    const k = Number(n);
    if (used.has(k)) continue;
    if (oldest === null || at < retired[oldest]! || (at === retired[oldest]! && k < oldest)) oldest = k;
  }
  if (oldest === null) return null;
  const rest = { ...retired };
  delete rest[oldest];
  return { number: oldest, retired: rest };
}

/**
 * Whether a datagram sent to TARGET reaches a socket of this host bound to BOUND, the host's
 * interface addresses being LOCAL: a socket bound to 0.0.0.0 gets what comes to any address of the
 * host on its port (one of LOCAL, any of 127.0.0.0/8, or 0.0.0.0); one bound to an address, what
 * comes to it (Linux sends to 0.0.0.0 through the loopback, to 127.0.0.1).
 */
export function reachesSocket(target: { host: string; port: number }, bound: { host: string; port: number }, local: readonly string[]): boolean {
  if (target.port !== bound.port) return false;
  const h = target.host;
  if (bound.host === '0.0.0.0') return isIpv4(h) && (ipToInt(h) >>> 24 === 127 || h === '0.0.0.0' || local.includes(h));
  return (target.host === '0.0.0.0' ? '127.0.0.1' : target.host) === bound.host;
}
