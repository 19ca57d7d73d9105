// The names the DNS server answers, per view: like Route 53's private hosted zones, a name of scope
// `vpc` answers in its endpoint's VPC only and shadows the public answer of the same name there; a
// name of scope `public` answers in every view (src/model/dns-names.ts says which is which). A
// query's view is its source address: 127.k.c.d is VPC k (src/model/isolation.ts), anything else
// is the public view. The index is rebuilt when the control plane's revision or the backends'
// health moves, at the next query, never per query.
//   Health: a name of every zone answers the ENIs that are in a zone up and have a backend they
//   reach without failover (src/model/backend-choice.ts: their zone's when cross-zone load
//   balancing is off or zone affinity on, else any) that is not unhealthy; when no ENI has, every
//   ENI of a zone up answers (fail open, as Route 53 answers all records when all are unhealthy).
//   Zone affinity: an endpoint with it answers a client the ENI of the client's zone first.
import { createHash } from 'node:crypto';
import { lastAddress, parseCidr } from '../net/cidr.js';
import { hostAddress, parseHostAddress, PUBLIC_NUMBER } from '../net/loopback.js';
import { awsRegion } from '../model/aws-identity.js';
import { anyHealthy, eligible, type ChoiceInputs } from '../model/backend-choice.js';
import { awsPublicServiceName, endpointDnsNames, type DnsNameKind, type PublicRecord } from '../model/dns-names.js';
import type { Backend } from '../model/events.js';
import { targetKey, type HealthView } from '../model/health.js';
import { clientVpcNumber } from '../model/isolation.js';
import type { Endpoint, EndpointService, EndpointStatus, Eni } from '../model/types.js';

/** what the DNS server reads of the control plane's state (src/control/control-plane.ts has it all) */
export interface DnsSource {
  /** moves at every change of the state: the index is rebuilt when it has */
  readonly revision: number;
  /** moves at every change of a backend's health state: the index is rebuilt when it has */
  readonly healthRevision: number;
  allEndpoints(): Iterable<Endpoint>;
  allServices(): Iterable<EndpointService>;
  /** the zones of an endpoint's ENIs */
  endpointZones(e: Endpoint): readonly string[];
  /** whether a zone is taken down on demand (a simulated outage): its ENIs leave the answers of names of every zone */
  zoneDown(zone: string): boolean;
  /** the loopback numbers k of the VPCs that exist */
  vpcNumbers(): Iterable<number>;
  /** the backends of each terminal port of an endpoint (the data plane's, src/control/transitions.ts backendsOf) */
  endpointBackends(e: Endpoint): readonly Backend[];
  /** the backends' probe states (the data plane's health checker); null: none is probed */
  readonly health: HealthView | null;
  /** the zone of a client's host address (the zone of the subnet holding it), or null */
  clientZone(host: string): string | null;
  /** the public zone's records (TXT: where providers prove their domains) */
  publicRecords(): Iterable<PublicRecord>;
}

/** endpoints whose ENI exists: their names answer (AWS resolves a pending endpoint's names too) */
const ANSWERING: ReadonlySet<EndpointStatus> = new Set(['pendingAcceptance', 'creating', 'accepted']);

/** the suffixes of the zones vpcep-sim is authoritative for: a name under them that no one has is NXDOMAIN, never forwarded */
export function servedZones(configRegion: string): string[] {
  return ['vpce.amazonaws.com', `${awsRegion(configRegion)}.amazonaws.com`, `vpcep.${configRegion}.internal`, 'privatelink.aliyuncs.com'];
}

interface Entry {
  readonly kind: DnsNameKind;
  /** the VPC number the name answers in, or null: every view */
  readonly vpc: number | null;
  addresses: string[];
  /** zone affinity: the addresses with each zone's first, by the client's zone */
  byZone?: Map<string, string[]>;
  /** TXT records (the public zone's) */
  texts?: string[];
  /** the zone the name is in: the apex of one of ours, else the name itself (its own private hosted zone), or a wildcard's parent */
  readonly zone: string;
}

export type DnsView = 'vpc' | 'public';

export interface Answer {
  readonly kind: DnsNameKind;
  readonly addresses: readonly string[];
  readonly texts?: readonly string[];
  /** the apex of the zone that answers (a suffix of the name asked): its SOA goes with an answer without records (RFC 2308 3) */
  readonly zone: string;
}

export class NameIndex {
  private readonly names = new Map<string, Entry[]>();
  private readonly vpcs: ReadonlySet<number>;
  private readonly zones: readonly string[];
  /**
   * names of our zones with names below them but no record of their own (empty non-terminals), each
   * with the views it has them in (null: every view). They exist: NODATA, not NXDOMAIN, which
   * says no name below exists either (RFC 8020), so that a resolver minimising its queries
   * (RFC 9156: it asks `web.vpcep.sim-1.internal` before `<id>.web.vpcep.sim-1.internal`) gave up
   */
  private readonly interior = new Map<string, Set<number | null>>();
  /**
   * names outside our zones with names we answer below them (the parents of a private DNS name, of
   * a public record, of our zones: `example.com` above `api.example.com`, the root), each with the
   * views it has them in: without forwarding they are NODATA too, not NXDOMAIN (RFC 8020)
   */
  private readonly above = new Map<string, Set<number | null>>();
  /**
   * the own zones of the names of one VPC outside our zones (a private DNS name, a wildcard's
   * parent), each with the VPCs it answers in: there it is a private hosted zone, authoritative for
   * every name under it (one missing: NXDOMAIN with the zone's SOA, never forwarded, as Route 53's)
   */
  private readonly privateZones = new Map<string, Set<number>>();
  /**
   * What each view answers, as a digest: null for the names of every view, each VPC number for
   * its own. The SOA serial of a view moves only when its digest (or every view's) does
   * (Views.current): it moved at every write of any account (a tag, a security group), which
   * anyone could count from outside every VPC, without credentials.
   */
  readonly digests = new Map<number | null, string>();
  /** the SOA serial of each view (null: the public view's, and that of a VPC without names of its own), set by Views */
  serials: ReadonlyMap<number | null, number> = new Map();
  /** endpoints none of whose ENIs has a backend up: all of them answer (fail open) */
  readonly failingOpen: string[] = [];
  private readonly clientZone: (host: string) => string | null;
  /** clients' zones, looked up once per index (subnets change only with the revision) */
  private readonly zoneCache = new Map<string, string | null>();

  constructor(source: DnsSource, configRegion: string, private readonly maxAddresses: number) {
    this.vpcs = new Set(source.vpcNumbers());
    this.zones = servedZones(configRegion);
    for (const z of this.zones) this.markAbove(z, null);
    this.clientZone = (host) => source.clientZone(host);
    const c = { configRegion, awsRegion: awsRegion(configRegion) };
    const services = new Map<string, EndpointService>();
    for (const s of source.allServices()) {
      services.set(s.id, s);
      const addresses = prefixListAddresses(s, maxAddresses);
      if (addresses.length) this.add(awsPublicServiceName(s, c.awsRegion, configRegion), { kind: 'aws_public_service', vpc: null, addresses });
    }
    const inputs: ChoiceInputs = { health: source.health, zoneDown: (z) => z !== null && source.zoneDown(z) };
    for (const e of source.allEndpoints()) {
      const s = services.get(e.service_id);
      if (!s || !e.host_ip || !ANSWERING.has(e.status)) continue;
      const k = parseHostAddress(e.host_ip)?.k ?? null;
      // a name of every zone answers the ENIs of the zones up that have a backend up; none has: every ENI of a zone up
      // (all of them when every zone is down: an answer that fails beats none); a zonal name answers its zone's ENI
      const up = e.enis.filter((n) => !source.zoneDown(n.zone));
      const backends = source.endpointBackends(e);
      const serving = up.filter((n) => eniHasBackend(n, backends, inputs, e.zone_affinity === true));
      if (!serving.length && up.length) this.failingOpen.push(e.id);
      const answering = serving.length ? serving : up.length ? up : e.enis;
      const all = answering.map((n) => n.host_ip);
      const byZone = e.zone_affinity && answering.length > 1 ? affinityOrders(answering) : undefined;
      for (const n of endpointDnsNames(e, s, source.endpointZones(e), c)) {
        const addresses = n.zone === undefined ? all : e.enis.filter((x) => x.zone === n.zone).map((x) => x.host_ip);
        this.add(n.name, { kind: n.kind, vpc: n.scope === 'vpc' ? k : null, addresses, ...(n.zone === undefined && byZone ? { byZone } : {}) });
      }
    }
    for (const r of source.publicRecords()) {
      // one TXT character-string holds 255 bytes (RFC 1035 3.3.14): a longer value is not served
      if (Buffer.byteLength(r.value) > 255) continue;
      const list = this.names.get(r.name);
      const pub = list?.find((x) => x.vpc === null);
      if (pub) (pub.texts ??= []).push(r.value);
      else this.add(r.name, { kind: 'public_record', vpc: null, addresses: [], texts: [r.value] });
    }
    this.digest();
  }

  private digest(): void {
    const lines = new Map<number | null, string[]>([[null, []], ...[...this.vpcs].map((v) => [v, []] as [number, string[]])]);
    for (const key of [...this.names.keys()].sort()) {
      for (const e of this.names.get(key)!) {
        let view = lines.get(e.vpc);
        if (!view) lines.set(e.vpc, view = []);
        view.push(`${key} ${e.kind} ${e.addresses.join(',')} ${(e.texts ?? []).join('\u0000')}`);
      }
    }
    for (const [vpc, view] of lines) this.digests.set(vpc, createHash('sha1').update(view.join('\n')).digest('base64'));
  }

  /** the SOA serial of the view of VPC `vpc` (null: the public view) */
  serialOf(vpc: number | null): number {
    return this.serials.get(vpc) ?? this.serials.get(null) ?? 0;
  }

  private add(name: string, fields: Omit<Entry, 'zone'>): void {
    const key = name.toLowerCase();
    const apex = this.zoneOf(key);
    const entry: Entry = { ...fields, zone: apex ?? (key.startsWith('*.') ? key.slice(2) : key) };
    for (let n = parentOf(key); apex !== null && n.length > apex.length; n = parentOf(n)) {
      let views = this.interior.get(n);
      if (!views) this.interior.set(n, views = new Set());
      views.add(entry.vpc);
    }
    if (apex === null) {
      this.markAbove(entry.zone, entry.vpc);
      if (entry.vpc !== null) {
        let vpcs = this.privateZones.get(entry.zone);
        if (!vpcs) this.privateZones.set(entry.zone, vpcs = new Set());
        vpcs.add(entry.vpc);
      }
    }
    const list = this.names.get(key);
    if (!list) { this.names.set(key, [entry]); return; }
    // two endpoints under one name in one view (two private-DNS endpoints of a service in one VPC): both addresses
    const same = list.find((x) => x.vpc === entry.vpc && x.kind === entry.kind);
    if (same) {
      same.addresses = [...same.addresses];
      for (const a of entry.addresses) if (same.addresses.length < this.maxAddresses && !same.addresses.includes(a)) same.addresses.push(a);
      delete same.byZone;
    } else list.push(entry);
  }

  /** NAME's parents up to the root (`.`, as a question's name key has it), as having a name below them in view VPC */
  private markAbove(name: string, vpc: number | null): void {
    for (let n = name; n !== '';) {
      n = parentOf(n);
      const key = n || '.';
      let views = this.above.get(key);
      if (!views) this.above.set(key, views = new Set());
      views.add(vpc);
    }
  }

  /** whether `name`, outside our zones, has a name we answer below it in the view of VPC `vpc` (null: public) */
  hasBelow(name: string, vpc: number | null): boolean {
    const views = this.above.get(name);
    return views !== undefined && (views.has(null) || views.has(vpc));
  }

  /** the VPC number of a client's address, or null: the public view */
  viewOf(clientHost: string): number | null {
    return clientVpcNumber(clientHost, (k) => this.vpcs.has(k));
  }

  /**
   * what `name` (lower case, no final dot) answers in the view of VPC `vpc` (null: public) to a
   * client at `clientHost`; null: NXDOMAIN. A name not found tries the wildcard one label up.
   */
  lookup(name: string, vpc: number | null, clientHost?: string): Answer | null {
    const found = this.entry(name, vpc) ?? this.entry(wildcardOf(name), vpc);
    if (!found?.byZone || clientHost === undefined) return found;
    let zone = this.zoneCache.get(clientHost);
    if (zone === undefined) {
      zone = this.clientZone(clientHost);
      if (this.zoneCache.size < ZONE_CACHE_MAX) this.zoneCache.set(clientHost, zone);
    }
    const ordered = zone === null ? undefined : found.byZone.get(zone);
    return ordered ? { kind: found.kind, addresses: ordered, zone: found.zone } : found;
  }

  /**
   * whether `name`, which has no record in the view of VPC `vpc`, exists there all the same: the
   * apex of a zone of ours or of the view's private zones, or a name with names below it
   */
  exists(name: string, vpc: number | null): boolean {
    const views = this.interior.get(name);
    return this.zones.includes(name) || (vpc !== null && this.privateZones.get(name)?.has(vpc) === true)
      || (views !== undefined && (views.has(null) || views.has(vpc))) || this.hasBelow(name, vpc);
  }

  /** the apex of the zone of ours `name` is in (or is), or null */
  zoneOf(name: string): string | null {
    return this.zones.find((z) => name === z || (name.endsWith(z) && name[name.length - z.length - 1] === '.')) ?? null;
  }

  /**
   * the apex of the zone `name` is in (or is) in the view of VPC `vpc` (null: public), which
   * answers it with authority: one of ours, else the closest private zone of that view; null: none
   */
  authorityOf(name: string, vpc: number | null): string | null {
    const ours = this.zoneOf(name);
    if (ours !== null || vpc === null) return ours;
    for (let n = name; n !== ''; n = parentOf(n)) if (this.privateZones.get(n)?.has(vpc)) return n;
    return null;
  }

  private entry(name: string, vpc: number | null): Entry | null {
    const list = this.names.get(name);
    if (!list) return null;
    let pub: Entry | undefined;
    for (const e of list) {
      if (e.vpc === null) pub ??= e;
      else if (e.vpc === vpc) return e;
    }
    return pub ?? null;
  }

  /** whether `name` sits under a zone that answers it in the view of VPC `vpc`, or has a public answer (an unknown name there is NXDOMAIN, never forwarded) */
  served(name: string, vpc: number | null): boolean {
    return this.names.get(name)?.some((e) => e.vpc === null) === true || this.authorityOf(name, vpc) !== null;
  }
}

const ZONE_CACHE_MAX = 4096;

/** `*.` and the name without its first label ('' for a one-label name: no wildcard) */
function wildcardOf(name: string): string {
  return name.includes('.') ? `*.${parentOf(name)}` : '';
}

/** the name without its first label ('' for a one-label name) */
function parentOf(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? '' : name.slice(dot + 1);
}

/**
 * Whether an ENI has an eligible backend (healthy, or initial while none of its port's is; its
 * zone up) among those its connections go to without failover: its zone's (and those outside every zone) when the port's
 * cross-zone load balancing is off or the endpoint has zone affinity, else any. A port of one
 * unprobed backend (a public service's) always has. No backends at all: it has (nothing to judge).
 */
function eniHasBackend(eni: Eni, backends: readonly Backend[], inputs: ChoiceInputs, zoneAffinity: boolean): boolean {
  if (!backends.length) return true;
  for (const b of backends) {
    const targets = b.targets ?? [{ key: targetKey(b.host, b.port), zone: null }];
    const zonal = b.cross_zone === false || zoneAffinity;
    const healthy = anyHealthy(targets, inputs);
    for (const t of targets) {
      if (zonal && t.zone !== null && t.zone !== eni.zone) continue;
      if (eligible(t, inputs, healthy)) return true;
    }
  }
  return false;
}

/** for each zone of the ENIs answering: their addresses with that zone's first, the others in their order */
function affinityOrders(enis: readonly Eni[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { zone } of enis) {
    if (out.has(zone)) continue;
    out.set(zone, [...enis.filter((n) => n.zone === zone), ...enis.filter((n) => n.zone !== zone)].map((n) => n.host_ip));
  }
  return out;
}

/** the host addresses (127.255.c.d) of a gateway service's prefix list, the first `max` of them */
function prefixListAddresses(s: EndpointService, max: number): string[] {
  const out: string[] = [];
  for (const text of s.public?.prefix_list?.cidrs ?? []) {
    const p = parseCidr(text, { strict: true });
    if (!p.ok) continue;
    // a /30 or wider: its network and broadcast addresses are no host's
    const hosts = p.cidr.prefix <= 30 ? 1 : 0;
    for (let ip = p.cidr.base + hosts; ip <= lastAddress(p.cidr) - hosts && out.length < max; ip++) out.push(hostAddress(PUBLIC_NUMBER, ip));
  }
  return out;
}

/** the index of a source, rebuilt when its revision or its health has moved since the last build */
export class Views {
  private index: NameIndex | null = null;
  private builtAt = -1;
  private healthAt = -1;
  private failingOpen = '';

  /** onFailOpen: told the endpoints answering every ENI because none has a backend up, when that set changes */
  constructor(
    private readonly source: DnsSource, private readonly configRegion: string, private readonly maxAddresses: number,
    private readonly onFailOpen?: (endpointIds: readonly string[]) => void,
  ) {}

  current(): NameIndex {
    const r = this.source.revision;
    const h = this.source.healthRevision;
    if (!this.index || r !== this.builtAt || h !== this.healthAt) {
      const next = new NameIndex(this.source, this.configRegion, this.maxAddresses);
      next.serials = serialsAfter(this.index, next);
      this.index = next;
      this.builtAt = r;
      this.healthAt = h;
      const failing = this.index.failingOpen.join(' ');
      if (failing !== this.failingOpen) {
        this.failingOpen = failing;
        this.onFailOpen?.(this.index.failingOpen);
      }
    }
    return this.index;
  }
}

/**
 * Each view's SOA serial in NEXT: the one in PREV while the view answers the same (its own names
 * and every view's), else the time in hundredths of a second (modulo 2^32), or one more than
 * before when that is later by RFC 1982 arithmetic. A restart starts again from the time: in
 * seconds, a burst of changes (one per second is little) ran the serial ahead of it, and the next
 * start took it back; in hundredths it runs ahead only past a hundred changes a second, a lead a
 * restart's time (half a second and more) takes back. Serials wrap every 497 days; any two less
 * than 248 days apart compare right.
 */
function serialsAfter(prev: NameIndex | null, next: NameIndex): Map<number | null, number> {
  const now = Math.floor(Date.now() / 10) >>> 0;
  const moved = (old: number | undefined) => (old === undefined || serialAfter(now, old) ? now : (old + 1) >>> 0);
  const everyView = prev?.digests.get(null) !== next.digests.get(null);
  const serials = new Map<number | null, number>();
  for (const [vpc, digest] of next.digests) {
    const old = prev ? prev.serialOf(vpc) : undefined;
    serials.set(vpc, everyView || prev?.digests.get(vpc) !== digest ? moved(old) : old!);
  }
  return serials;
}

/** whether serial A is later than B (RFC 1982 3.2: their difference, modulo 2^32, under 2^31) */
function serialAfter(a: number, b: number): boolean {
  const d = (a - b) >>> 0;
  return d !== 0 && d < 2 ** 31;
}
