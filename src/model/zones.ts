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
