// The names the DNS server answers, per view: like Route 53's private hosted zones, a name of scope
// `vpc` answers in its endpoint's VPC only and shadows the public answer of the same name there; a
// name of scope `public` answers in every view (src/model/dns-names.ts says which is which). A
// query's view is its source address: 127.k.c.d is VPC k (src/model/isolation.ts), anything else
// is the public view. The index is rebuilt when the control plane's revision moves, at the next
// query, never per query.
import { lastAddress, parseCidr } from '../net/cidr.js';
import { hostAddress, parseHostAddress, PUBLIC_NUMBER } from '../net/loopback.js';
import { awsRegion } from '../model/aws-identity.js';
import { awsPublicServiceName, endpointDnsNames, type DnsNameKind } from '../model/dns-names.js';
import { clientVpcNumber } from '../model/isolation.js';
import type { Endpoint, EndpointService, EndpointStatus } from '../model/types.js';

/** what the DNS server reads of the control plane's state (src/control/control-plane.ts has it all) */
export interface DnsSource {
  /** moves at every change of the state: the index is rebuilt when it has */
  readonly revision: number;
  allEndpoints(): Iterable<Endpoint>;
  allServices(): Iterable<EndpointService>;
  /** the zones of an endpoint's ENIs */
  endpointZones(e: Endpoint): readonly string[];
  /** whether a zone is taken down on demand (a simulated outage): its ENIs leave the answers of names of every zone */
  zoneDown(zone: string): boolean;
  /** the loopback numbers k of the VPCs that exist */
  vpcNumbers(): Iterable<number>;
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
  readonly addresses: string[];
}

export type DnsView = 'vpc' | 'public';

export interface Answer {
  readonly kind: DnsNameKind;
  readonly addresses: readonly string[];
}

export class NameIndex {
  private readonly names = new Map<string, Entry[]>();
  private readonly vpcs: ReadonlySet<number>;
  private readonly zones: readonly string[];

  constructor(source: DnsSource, configRegion: string, private readonly maxAddresses: number) {
    this.vpcs = new Set(source.vpcNumbers());
    this.zones = servedZones(configRegion).map((z) => `.${z}`);
    const c = { configRegion, awsRegion: awsRegion(configRegion) };
    const services = new Map<string, EndpointService>();
    for (const s of source.allServices()) {
      services.set(s.id, s);
      const addresses = prefixListAddresses(s, maxAddresses);
      if (addresses.length) this.add(awsPublicServiceName(s, c.awsRegion, configRegion), { kind: 'aws_public_service', vpc: null, addresses });
    }
    for (const e of source.allEndpoints()) {
      const s = services.get(e.service_id);
      if (!s || !e.host_ip || !ANSWERING.has(e.status)) continue;
      const k = parseHostAddress(e.host_ip)?.k ?? null;
      // a name of every zone answers the ENIs of the zones that are up (all of them when none is:
      // an answer that fails beats none); a zonal name answers its zone's ENI
      const up = e.enis.filter((n) => !source.zoneDown(n.zone));
      const all = (up.length ? up : e.enis).map((n) => n.host_ip);
      for (const n of endpointDnsNames(e, s, source.endpointZones(e), c)) {
        const addresses = n.zone === undefined ? all : e.enis.filter((x) => x.zone === n.zone).map((x) => x.host_ip);
        this.add(n.name, { kind: n.kind, vpc: n.scope === 'vpc' ? k : null, addresses });
      }
    }
  }

  private add(name: string, entry: Entry): void {
    const key = name.toLowerCase();
    const list = this.names.get(key);
    if (!list) { this.names.set(key, [entry]); return; }
    // two endpoints under one name in one view (two private-DNS endpoints of a service in one VPC): both addresses
    const same = list.find((x) => x.vpc === entry.vpc && x.kind === entry.kind);
    if (same) { for (const a of entry.addresses) if (same.addresses.length < this.maxAddresses && !same.addresses.includes(a)) same.addresses.push(a); }
    else list.push(entry);
  }

  /** the VPC number of a client's address, or null: the public view */
  viewOf(clientHost: string): number | null {
    return clientVpcNumber(clientHost, (k) => this.vpcs.has(k));
  }

  /** what `name` (lower case, no final dot) answers in the view of VPC `vpc` (null: public); null: NXDOMAIN */
  lookup(name: string, vpc: number | null): Answer | null {
    const list = this.names.get(name);
    if (!list) return null;
    let pub: Entry | undefined;
    for (const e of list) {
      if (e.vpc === null) pub ??= e;
      else if (e.vpc === vpc) return e;
    }
    return pub ?? null;
  }

  /** whether `name` sits under a zone vpcep-sim serves (an unknown name there is NXDOMAIN, never forwarded) */
  served(name: string): boolean {
    return this.names.has(name) || this.zones.some((z) => name.endsWith(z) || name === z.slice(1));
  }
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

/** the index of a source, rebuilt when its revision has moved since the last build */
export class Views {
  private index: NameIndex | null = null;
  private builtAt = -1;

  constructor(private readonly source: DnsSource, private readonly configRegion: string, private readonly maxAddresses: number) {}

  current(): NameIndex {
    const r = this.source.revision;
    if (!this.index || r !== this.builtAt) {
      this.index = new NameIndex(this.source, this.configRegion, this.maxAddresses);
      this.builtAt = r;
    }
    return this.index;
  }
}
