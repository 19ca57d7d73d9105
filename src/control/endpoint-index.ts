// The lookups a create makes, kept up to date instead of scanned (issue 12/16: every create walked
// every endpoint four times and every claim twice, linear in N): the endpoints by owner and by
// service, the marker ids, SNAT addresses and private IPs (by VPC) they hold, and a cursor per
// address pool under which every address is taken, so that the lowest free address is found
// without walking the ones in use. The maps update themselves on every set and delete: the
// control state's code keeps writing `st.endpoints.set(id, e)`.
import type { Endpoint } from '../model/types.js';

/** counts of values held (two endpoints may hold one value in a store made by hand) */
class Counts<K> {
  private readonly n = new Map<K, number>();
  add(k: K): void {
    this.n.set(k, (this.n.get(k) ?? 0) + 1);
  }
  /** true when the last holder let go */
  remove(k: K): boolean {
    const c = this.n.get(k);
    if (c === undefined) return false;
    if (c > 1) this.n.set(k, c - 1);
    else this.n.delete(k);
    return c === 1;
  }
  has(k: K): boolean {
    return this.n.has(k);
  }
  clear(): void {
    this.n.clear();
  }
}

/** told each address an endpoint no longer holds: `snat` or a VPC id, and the address */
export type ReleaseListener = (pool: string, ip: string) => void;

/** the endpoints by id, with their indexes (insertion order as a Map's: an update keeps an endpoint's place) */
export class EndpointMap extends Map<string, Endpoint> {
  private readonly owners = new Map<string, Set<string>>();
  private readonly byService = new Map<string, Set<string>>();
  private readonly markers = new Counts<number>();
  private readonly snat = new Counts<string>();
  private readonly ips = new Map<string, Counts<string>>();
  onRelease: ReleaseListener | undefined;

  override set(id: string, e: Endpoint): this {
    const old = super.get(id);
    if (old) this.unindex(old, false);
    super.set(id, e);
    this.index(e, old === undefined);
    return this;
  }

  override delete(id: string): boolean {
    const old = super.get(id);
    if (!old) return false;
    this.unindex(old, true);
    return super.delete(id);
  }

  override clear(): void {
    super.clear();
    this.owners.clear();
    this.byService.clear();
    this.markers.clear();
    this.snat.clear();
    this.ips.clear();
  }

  /** the ids of an account's endpoints, in the map's order */
  idsOf(owner: string): ReadonlySet<string> {
    return this.owners.get(owner) ?? EMPTY;
  }

  /** the ids of a service's endpoints (its connections), in the map's order */
  idsOfService(serviceId: string): ReadonlySet<string> {
    return this.byService.get(serviceId) ?? EMPTY;
  }

  hasMarker(m: number): boolean {
    return this.markers.has(m);
  }

  hasSnatIp(ip: string): boolean {
    return this.snat.has(ip);
  }

  /** whether an ENI of an endpoint in VPC holds IP */
  hasIp(vpcId: string, ip: string): boolean {
    return this.ips.get(vpcId)?.has(ip) ?? false;
  }

  private index(e: Endpoint, added: boolean): void {
    if (added) {
      group(this.owners, e.owner).add(e.id);
      group(this.byService, e.service_id).add(e.id);
    }
    this.markers.add(e.marker_id);
    if (e.snat_ip) this.snat.add(e.snat_ip);
    if (e.enis.length) {
      let ips = this.ips.get(e.vpc_id);
      if (!ips) this.ips.set(e.vpc_id, (ips = new Counts()));
      for (const n of e.enis) ips.add(n.ip);
    }
  }

  private unindex(e: Endpoint, removed: boolean): void {
    if (removed) {
      ungroup(this.owners, e.owner, e.id);
      ungroup(this.byService, e.service_id, e.id);
    }
    this.markers.remove(e.marker_id);
    if (e.snat_ip && this.snat.remove(e.snat_ip)) this.onRelease?.('snat', e.snat_ip);
    const ips = this.ips.get(e.vpc_id);
    for (const n of e.enis) if (ips?.remove(n.ip)) this.onRelease?.(e.vpc_id, n.ip);
  }
}

const EMPTY: ReadonlySet<string> = new Set();

function group(m: Map<string, Set<string>>, k: string): Set<string> {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  return s;
}

function ungroup(m: Map<string, Set<string>>, k: string, id: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(id);
  if (!s.size) m.delete(k);
}

/** random draws of LowestFree.spread before it falls back to the lowest free address */
export const SPREAD_PROBES = 8;

/**
 * The lowest free address of a range [LOW, HIGH] (integers) without walking those in use: every
 * address under the cursor is taken; an address let go moves it back (released). Should a
 * release go unseen, a search that finds nothing from the cursor up searches again from LOW, so
 * the answer is always a free address.
 */
export class LowestFree {
  private cursor: number;

  constructor(readonly low: number, readonly high: number) {
    this.cursor = low;
  }

  released(ip: number): void {
    if (ip >= this.low && ip < this.cursor) this.cursor = ip;
  }

  /**
   * A free address at random, for a fleet (issue 17): nodes that all take the lowest free address
   * pick the same one and lose each other's compare-and-swaps. Up to SPREAD_PROBES addresses of the
   * range drawn at random (RANDOM: [0, 1)), the first free one; in a range so full that none was,
   * the lowest free one. The cursor stays where it is (every address under it is still taken).
   */
  spread(used: (ip: number) => boolean, random: () => number = Math.random): number | null {
    const size = this.high - this.low + 1;
    for (let i = 0; i < SPREAD_PROBES; i++) {
      const ip = this.low + Math.min(size - 1, Math.floor(random() * size));
      if (!used(ip)) return ip;
    }
    return this.find(used);
  }

  /** the lowest free address at or over the cursor (USED: taken), or null when the range is full */
  find(used: (ip: number) => boolean): number | null {
    for (let ip = this.cursor; ip <= this.high; ip++) {
      if (!used(ip)) return (this.cursor = ip);
    }
    for (let ip = this.low; ip < this.cursor; ip++) {
      if (!used(ip)) return (this.cursor = ip);
    }
    return null;
  }
}
