// Zones in the control plane: which zones a service is in (an endpoint may only use those), an
// endpoint's ENIs (one per zone: 002_05e46307768ae273.txt "Interface endpoint Availability Zone
// considerations"), and zones taken down on demand (a simulated outage, kept in meta `zones_down`
// so that a restart keeps it).
import { randomBytes } from 'node:crypto';
import type { SubnetChoice } from '../model/commands.js';
import { DomainError } from '../model/errors.js';
import { allocatePrivateIp } from '../model/rules.js';
import type { Endpoint, EndpointService, Eni, Subnet, Vpc } from '../model/types.js';
import { zoneOfSubnet } from '../model/zones.js';
import { cidrContains, cidrOf, intToIp, ipToInt } from '../net/cidr.js';
import { hostAddress, parseHostAddress, simulatedAddress } from '../net/loopback.js';
import { backendPortIds } from './lb-backends.js';
import type { ControlState } from './state.js';
import { applyToDataPlane } from './transitions.js';

/**
 * The zones a service's backends are in: a load-balanced service's, its load balancers' subnets'
 * zones; a port-backed one's, its backend ports' subnets' zones; a public service's, its config
 * backends' zones (a target or backend in no zone: every zone).
 */
export function serviceZones(st: ControlState, s: EndpointService): Set<string> {
  if (s.public) {
    const out = new Set<string>();
    for (const t of s.public.targets) {
      for (const b of t.backends ?? [{ zone: null }]) {
        if (b.zone === null) return new Set(st.zones);
        out.add(b.zone);
      }
    }
    return out;
  }
  const out = new Set<string>();
  const vpc = s.vpc_id ? st.vpcs.get(s.vpc_id) : undefined;
  if (!vpc) return out;
  const zoneOf = (subnetId: string) => {
    const subnet = vpc.subnets.find((x) => x.id === subnetId);
    if (subnet) out.add(zoneOfSubnet(subnet, st.zones));
  };
  if (s.load_balancers) {
    for (const id of s.load_balancers) for (const subnetId of st.loadBalancers.get(id)?.subnets ?? []) zoneOf(subnetId);
    return out;
  }
  for (const id of backendPortIds(s)) {
    const port = vpc.ports.find((p) => p.id === id);
    if (port) zoneOf(port.subnet_id);
  }
  return out;
}

/** a new ENI id: `eni-` + 17 hex (AWS's shape, which every dialect can show) */
export function newEniId(): string {
  return `eni-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/**
 * The ENIs of CHOICES for an endpoint of service S in VPC, next to KEPT (the endpoint's ENIs that
 * stay): each subnet of the VPC, at most one per zone, each zone one of the service's, each IP
 * free. Everything is checked before anything is returned.
 */
export function newEnis(
  st: ControlState, s: EndpointService, vpc: Vpc, choices: readonly SubnetChoice[], kept: readonly Eni[], ownerName: string,
): Eni[] {
  const zones = serviceZones(st, s);
  const taken = new Map(kept.map((e) => [e.zone, e.subnet_id]));
  const mine = new Set<string>();
  const out: Eni[] = [];
  for (const c of choices) {
    const subnet = vpc.subnets.find((x) => x.id === c.subnetId);
    if (!subnet) {
      const elsewhere = [...st.vpcs.values()].some((v) => v.account === ownerName && v.subnets.some((x) => x.id === c.subnetId));
      if (elsewhere) throw new DomainError('NetworkNotInVpc', `subnet ${c.subnetId} does not belong to VPC ${vpc.id}`);
      throw new DomainError('SubnetNotFound', `subnet ${c.subnetId} does not exist`);
    }
    const zone = zoneOfSubnet(subnet, st.zones);
    const other = taken.get(zone);
    if (other !== undefined) {
      // AWS: DuplicateSubnetsInSameZone "Found another VPC endpoint subnet in the availability zone of subnet-..."
      throw new DomainError('ZoneTaken', other === subnet.id
        ? `subnet ${subnet.id} is given twice: an endpoint has one ENI per subnet`
        : `subnets ${other} and ${subnet.id} are both in zone ${zone}: an endpoint has at most one subnet per zone`);
    }
    if (!zones.has(zone)) {
      const list = [...zones].sort().join(', ') || 'none';
      throw new DomainError('InvalidZone', `subnet ${subnet.id} is in zone ${zone}, where endpoint service ${s.id} is not (its zones: ${list})`);
    }
    taken.set(zone, subnet.id);
    const ip = privateIp(st, vpc, subnet, c.ip, mine);
    mine.add(ip);
    out.push({ id: newEniId(), zone, subnet_id: subnet.id, ip, host_ip: hostAddress(vpc.number, ipToInt(ip)) });
  }
  return out;
}

/** the endpoint with these ENIs: the legacy single-ENI fields are the first one's */
export function withEnis(e: Endpoint, enis: readonly Eni[]): Endpoint {
  const first = enis[0];
  return { ...e, enis, subnet_id: first?.subnet_id ?? null, ip: first?.ip ?? null, host_ip: first?.host_ip ?? null };
}

/**
 * the private IP of a new ENI in SUBNET: the one asked for when it is free (checked as the domain's
 * rules say: rules.ts allocatePrivateIp), else the lowest free one (ControlState.newPrivateIp: no
 * walk of the VPC's endpoints). AWS reserves the first four addresses and the last of a subnet
 * made through its API (the network, router and last are reserved for every subnet: rules.ts
 * reservedReason); asked for one of them, the refusal says why.
 */
function privateIp(st: ControlState, vpc: Vpc, subnet: Subnet, asked: string | undefined, mine: ReadonlySet<string>): string {
  const reserved = new Set<string>();
  if (subnet.aws_reserved) {
    const base = cidrOf(subnet.cidr).base;
    reserved.add(intToIp(base + 2)).add(intToIp(base + 3));
    if (asked !== undefined && reserved.has(asked)) {
      throw new DomainError('InvalidPortIp', `invalid port_ip ${asked}: AWS reserves the first four addresses of subnet ${subnet.cidr}`);
    }
  }
  if (asked !== undefined) {
    const inUse = mine.has(asked) || reserved.has(asked) || st.ipInUse(vpc.id, asked) || vpc.ports.some((p) => p.ip === asked);
    return allocatePrivateIp(cidrOf(subnet.cidr), inUse ? new Set([asked]) : new Set(), asked);
  }
  const ip = st.newPrivateIp(vpc, subnet.cidr, reserved, mine);
  if (ip === null) throw new DomainError('SubnetExhausted', `no free private IP left in subnet ${cidrOf(subnet.cidr).text}`);
  return ip;
}

/** a zone of the region, or InvalidZone naming them */
export function checkZone(st: ControlState, zone: string): string {
  if (!st.zones.includes(zone)) throw new DomainError('InvalidZone', `unknown zone ${JSON.stringify(zone.slice(0, 64))}: the region's zones are ${st.zones.join(', ')}`);
  return zone;
}

/** the region's zones and whether each is up */
export function zoneStates(st: ControlState): Array<{ zone: string; up: boolean }> {
  return st.zones.map((zone) => ({ zone, up: !st.zonesDown.has(zone) }));
}

/**
 * Takes a zone down (a simulated outage: its ENIs refuse new connections and their live ones are
 * cut; its backends are unreachable) or brings it back up. Stored first, then the data plane is
 * told; the answer comes once it has acted.
 */
export async function setZoneDown(st: ControlState, zone: string, down: boolean): Promise<Array<{ zone: string; up: boolean }>> {
  await st.serial(async () => {
    checkZone(st, zone);
    if (st.zonesDown.has(zone) === down) return;
    const next = new Set(st.zonesDown);
    if (down) next.add(zone);
    else next.delete(zone);
    const value = Object.fromEntries([...next].map((z) => [z, 1]));
    await st.commit([{ kind: 'meta', id: 'zones_down', value }], () => {
      st.zonesDown.clear();
      for (const z of next) st.zonesDown.add(z);
    });
    st.log.info({ zone, down }, down ? 'zone down (simulated outage)' : 'zone up');
  });
  await pushZones(st);
  return zoneStates(st);
}

/** tells the data plane which zones are down */
export async function pushZones(st: ControlState): Promise<void> {
  const ack = await applyToDataPlane(st, { kind: 'zones', id: 'zones', down: [...st.zonesDown] });
  if (!ack.ok) st.log.warn({ reason: ack.reason }, 'data plane did not take the zones down');
}

/**
 * The zone a client's host address (127.k.c.d) is in: the zone of the subnet of VPC k whose range
 * holds its simulated address (the VPC's base with c.d); null outside every VPC or every subnet.
 * The DNS server orders answers by it (zone affinity).
 */
export function zoneOfHost(st: ControlState, host: string): string | null {
  const parts = parseHostAddress(host);
  if (!parts) return null;
  for (const vpc of st.vpcs.values()) {
    if (vpc.number !== parts.k) continue;
    const ip = simulatedAddress(cidrOf(vpc.cidr).base, parts.low16);
    const subnet = vpc.subnets.find((n) => cidrContains(cidrOf(n.cidr), ip));
    return subnet ? zoneOfSubnet(subnet, st.zones) : null;
  }
  return null;
}
