// Zones: the region's availability zones, each subnet in one of them. An endpoint has one ENI per
// zone it uses and a service's backends sit in zones (002_05e46307768ae273.txt "Interface endpoint
// Availability Zone considerations"; 003_1ea5fa6dffe78555.txt "Configure high availability").
// Zone names are the config's (`zones:`), `<region>a`, `<region>b`, `<region>c` by default; each
// dialect renders them its way.
import type { Subnet } from './types.js';

/** the letters of the default zones: `<region>a`, `<region>b`, `<region>c` */
export const DEFAULT_ZONE_LETTERS = ['a', 'b', 'c'] as const;

/** the zones of a region when the config names none */
export function defaultZones(region: string): string[] {
  return DEFAULT_ZONE_LETTERS.map((l) => `${region}${l}`);
}

/** the zone a subnet sits in: its own, else the region's first (subnets stored before zones existed) */
export function zoneOfSubnet(subnet: Pick<Subnet, 'zone'>, zones: readonly string[]): string {
  return subnet.zone ?? zones[0]!;
}

/** at most 26 zones: a zone is its region and one letter, as AWS names them (`us-east-1a` .. `us-east-1z`) */
export const MAX_ZONES = 26;

/** why a list of zone names cannot be the region's, or null: `<region><letter>` each, unique, 1 to 26 */
export function zonesProblem(region: string, zones: readonly string[]): string | null {
  if (zones.length < 1 || zones.length > MAX_ZONES) return `between 1 and ${MAX_ZONES} zones, got ${zones.length}`;
  const seen = new Set<string>();
  for (const z of zones) {
    if (zoneLetter(region, z) === null) return `${JSON.stringify(z)} is not a zone of region ${region}: a zone is the region and one letter a-z (e.g. ${region}a)`;
    if (seen.has(z)) return `duplicate zone ${JSON.stringify(z)}`;
    seen.add(z);
  }
  return null;
}

/** a zone's letter (`sim-1b` -> `b`), or null when it is not `<region><letter>` */
export function zoneLetter(region: string, zone: string): string | null {
  return zone.length === region.length + 1 && zone.startsWith(region) && /^[a-z]$/.test(zone.slice(-1)) ? zone.slice(-1) : null;
}

/** `sim-1b` -> `us-east-1b`: a zone named for another region (AWS's, when the config's is not one) */
export function zoneInRegion(zone: string, from: string, to: string): string {
  return zone.startsWith(from) ? `${to}${zone.slice(from.length)}` : zone;
}
