// What every node of a fleet must be given alike (README "Fleet"), as one digest each node publishes
// in its record: nodes started on different configs each enforced their own quotas, VPCs and rules
// on the shared state, and nothing said so.
import { createHash } from 'node:crypto';
import type { Config } from '../model/config.js';
import { RELOADABLE, snake } from './reload.js';

/**
 * The digest (12 hex digits of a SHA-256) of the config's fleet-wide part: the region and its zones,
 * the accounts (their quotas and tokens), VPCs, public services, the data plane's rules, SNS topics,
 * the DNS records and TTL every node answers, the lease TTL. Left out, as each node's own: where it
 * listens, its store's durability, API limits, flow logs, DNS address and forwarding, faults, its
 * name; and what a reload changes in place (RELOADABLE of reload.ts), which a digest taken at the
 * start would no longer tell.
 */
export function fleetConfigDigest(c: Config): string {
  const reloadable: readonly string[] = RELOADABLE;
  const dataplane = Object.fromEntries(Object.entries(c.dataplane).filter(([k]) => !reloadable.includes(`dataplane.${snake(k)}`)));
  const shared = {
    region: c.region, zones: c.zones, accounts: c.accounts, vpcs: c.vpcs, public_services: c.public_services,
    dataplane, aws: c.aws, dns: { ttlS: c.dns.ttlS, publicRecords: c.dns.publicRecords }, leaseTtlS: c.fleet.leaseTtlS,
  };
  return createHash('sha256').update(JSON.stringify(shared)).digest('hex').slice(0, 12);
}
