// The DNS names of endpoints and public services, computed once for every dialect and for the
// embedded DNS server (src/dns/): what DescribeVpcEndpoints' DnsEntries and Huawei's dns_names
// show is what the server answers. Pure.
//   AWS (002_05e46307768ae273.txt "DNS hostnames"): `vpce-<id>-<hash>.<service id>.<region>.vpce.amazonaws.com`
//     for all zones and `vpce-<id>-<hash>-<zone>.<...>` per zone; public services under
//     `<name>.<region>.amazonaws.com`, which an interface endpoint with private DNS answers in its VPC.
//   Huawei (000_9af245a83013c30f.txt 4.3 "Private Domain Name"): one private name when enable_dns.
//   Alibaba (003_1ea5fa6dffe78555.txt: "endpoint domain name", "endpoint zone domain name"): public
//     authoritative names, resolvable from other VPCs and on premises.
import { createHash } from 'node:crypto';
import type { Endpoint, EndpointService, PrivateDnsName } from './types.js';

/** what a name stands for: a metric label and the README's table */
export const DNS_NAME_KINDS = [
  'aws_endpoint', 'aws_zonal', 'aws_private', 'aws_public_service', 'huawei', 'alibaba_endpoint', 'alibaba_zonal', 'service_private', 'public_record',
] as const;
export type DnsNameKind = (typeof DNS_NAME_KINDS)[number];

/**
 * Where a name answers: `vpc`, in the endpoint's VPC only (a private hosted zone); `public`, in
 * every view (a public zone).
 */
export type DnsScope = 'vpc' | 'public';

export interface DnsName {
  readonly name: string;
  readonly kind: DnsNameKind;
  readonly scope: DnsScope;
  /** zonal names: the zone (the model's name) whose ENIs answer; absent: every ENI of the endpoint */
  readonly zone?: string;
}

/** the AWS zone name of a model zone: `<region><letter>` rendered under the AWS region (sim-1a -> us-east-1a) */
export function awsZoneName(zone: string, configRegion: string, awsRegion: string): string {
  return zone.startsWith(configRegion) ? `${awsRegion}${zone.slice(configRegion.length)}` : zone;
}

/** a short stable hash of `of` (hex): the same at every call and across restarts */
function hashHex(salt: string, of: string, digits: number): string {
  return createHash('sha256').update(`${salt}\0${of}`).digest('hex').slice(0, digits);
}

/** the last label of a public service's AWS name: `s3` for the config's `sim-1.s3` */
export function publicServiceShortName(s: Pick<EndpointService, 'service_name'>, configRegion: string): string {
  const prefix = `${configRegion}.`;
  return s.service_name.startsWith(prefix) ? s.service_name.slice(prefix.length) : s.service_name;
}

/** the base name AWS gives a service's endpoints: `<service id, or a public service's name>.<region>.vpce.amazonaws.com` */
export function awsServiceDnsBase(s: Pick<EndpointService, 'id' | 'service_name' | 'public'>, awsRegion: string, configRegion: string): string {
  return `${s.public ? publicServiceShortName(s, configRegion) : s.id}.${awsRegion}.vpce.amazonaws.com`;
}

/** a public service's own AWS name (`s3.us-east-1.amazonaws.com`) */
export function awsPublicServiceName(s: Pick<EndpointService, 'service_name'>, awsRegion: string, configRegion: string): string {
  return `${publicServiceShortName(s, configRegion)}.${awsRegion}.amazonaws.com`;
}

export interface DnsNameContext {
  /** the config's region */
  readonly configRegion: string;
  /** the region AWS names carry (src/model/aws-identity.ts awsRegionOf) */
  readonly awsRegion: string;
}

/** the AWS names of an interface endpoint: the regional one first, then one per zone (DnsEntries) */
export function awsEndpointDnsNames(
  e: Pick<Endpoint, 'id' | 'service_type'>, s: Pick<EndpointService, 'id' | 'service_name' | 'public'>, zones: readonly string[], c: DnsNameContext,
): DnsName[] {
  if (e.service_type !== 'interface') return [];
  const base = awsServiceDnsBase(s, c.awsRegion, c.configRegion);
  const host = `${e.id}-${hashHex('x', e.id, 8)}`;
  return [
    { name: `${host}.${base}`, kind: 'aws_endpoint', scope: 'public' },
    ...zones.map((zone): DnsName => ({ name: `${host}-${awsZoneName(zone, c.configRegion, c.awsRegion)}.${base}`, kind: 'aws_zonal', scope: 'public', zone })),
  ];
}

/**
 * The service's label in Huawei's endpoint names: its name (`web` of `sim-1.web.<id>`, an
 * operator's `obs` of `sim-1.obs`), else its id (`sim-1.<id>`; a service made through the EC2 API,
 * `com.amazonaws.vpce.<region>.<id>`, whose second label `amazonaws` every such service shares).
 * From the name as stored: a restart and every node of a fleet give the same.
 */
export function huaweiServiceLabel(e: Pick<Endpoint, 'service_id' | 'service_name'>): string {
  // rules.ts fullServiceName: `<region>.<name>.<id>` or `<region>.<id>`; a public service's `<region>.<name>`
  const labels = e.service_name.split('.');
  return labels.length === 2 || labels.length === 3 ? labels[1]! : e.service_id;
}

/** Huawei's private domain name of an endpoint with enable_dns (dns_names), else none */
export function huaweiEndpointDnsNames(e: Pick<Endpoint, 'id' | 'service_id' | 'service_name' | 'enable_dns'>, configRegion: string): DnsName[] {
  if (!e.enable_dns) return [];
  // the first 8 hex digits of the id: a UUID's first group, a `vpce-` id's first 8 after the prefix
  // (its first 8 characters were `vpce-` and 3 digits, which two endpoints share once in 4,096)
  return [{ name: `${e.id.replace(/^vpce-/, '').slice(0, 8)}.${huaweiServiceLabel(e)}.vpcep.${configRegion}.internal`, kind: 'huawei', scope: 'vpc' }];
}

/** Alibaba's endpoint domain name and one zone domain name per zone */
export function alibabaEndpointDnsNames(e: Pick<Endpoint, 'id' | 'service_id' | 'service_type'>, zones: readonly string[], configRegion: string): DnsName[] {
  if (e.service_type !== 'interface') return [];
  const ep = e.id.startsWith('ep-') ? e.id : `ep-${hashHex('ep', e.id, 17)}`;
  const base = `epsrv-${hashHex('epsrv', e.service_id, 17)}.${configRegion}.privatelink.aliyuncs.com`;
  return [
    { name: `${ep}.${base}`, kind: 'alibaba_endpoint', scope: 'public' },
    ...zones.map((zone): DnsName => ({ name: `${ep}-${zone}.${base}`, kind: 'alibaba_zonal', scope: 'public', zone })),
  ];
}

/**
 * Every name of one endpoint. With private DNS (enable_dns) on an interface endpoint of a public
 * service, the service's own AWS name answers the endpoint in its VPC (AWS's private DNS for AWS
 * services), ahead of the public answer.
 */
export function endpointDnsNames(
  e: Pick<Endpoint, 'id' | 'service_id' | 'service_name' | 'service_type' | 'enable_dns'>,
  s: Pick<EndpointService, 'id' | 'service_name' | 'public' | 'private_dns'>, zones: readonly string[], c: DnsNameContext,
): DnsName[] {
  return [...awsViewDnsNames(e, s, zones, c), ...huaweiEndpointDnsNames(e, c.configRegion), ...alibabaEndpointDnsNames(e, zones, c.configRegion)];
}

/** the names of an endpoint that AWS lists (DnsEntries): its own, and with private DNS the service's (its public name, or the provider's verified name) */
export function awsViewDnsNames(
  e: Pick<Endpoint, 'id' | 'service_type' | 'enable_dns'>,
  s: Pick<EndpointService, 'id' | 'service_name' | 'public' | 'private_dns'>, zones: readonly string[], c: DnsNameContext,
): DnsName[] {
  return [
    ...awsEndpointDnsNames(e, s, zones, c),
    ...(e.enable_dns && e.service_type === 'interface' && s.public
      ? [{ name: awsPublicServiceName(s, c.awsRegion, c.configRegion), kind: 'aws_private', scope: 'vpc' } as const] : []),
    ...servicePrivateDnsNames(e, s),
  ];
}

/**
 * A provider's own name for its service (AWS's PrivateDnsName, Alibaba's custom service domain
 * name), answered in the VPC of an interface endpoint with private DNS on, once the domain is
 * verified (002_05e46307768ae273.txt: "A consumer can only use the private DNS name ... when the
 * verification status is verified"; 003_1ea5fa6dffe78555.txt: "resolves to a private IP address only
 * within the VPC where the interface endpoint is located"). A wildcard (`*.example.com`) answers
 * every name one label under it.
 */
export function servicePrivateDnsNames(e: Pick<Endpoint, 'service_type' | 'enable_dns'>, s: Pick<EndpointService, 'private_dns'>): DnsName[] {
  const p = s.private_dns;
  if (!p || p.state !== 'verified' || !e.enable_dns || e.service_type !== 'interface') return [];
  return [{ name: p.name, kind: 'service_private', scope: 'vpc' }];
}

/** the zones a provider's private DNS name may not be under: those vpcep-sim answers itself */
const RESERVED_SUFFIXES = ['amazonaws.com', 'aliyuncs.com', 'internal', 'myhuaweicloud.com'];

/**
 * What is wrong with a private DNS name, or null: lower case (002_05e46307768ae273.txt "Domain names
 * must be lower-cased"), labels of 1-63 letters, digits and hyphens (RFC 1034), 255 characters at
 * most, two labels at least, an optional leading `*.`, not under a zone vpcep-sim answers itself.
 */
export function privateDnsNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > 255) return 'must be 1-255 characters';
  if (name !== name.toLowerCase()) return 'must be lower case';
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  if (labels.length < 2) return 'must have two labels at least (a domain, not a top-level name)';
  for (const l of labels) {
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l)) return `label ${JSON.stringify(l.slice(0, 70))} is not 1-63 of a-z 0-9 - (no hyphen at either end)`;
  }
  return cloudZoneProblem(labels.join('.'));
}

/**
 * Why a name is not an account's to name, or null: one under a zone vpcep-sim answers itself (its
 * endpoints' and services' names, every account's), as no account of a cloud writes into its zones.
 */
export function cloudZoneProblem(name: string): string | null {
  const reserved = RESERVED_SUFFIXES.find((z) => name === z || name.endsWith(`.${z}`));
  return reserved ? `names under ${reserved} are the cloud's own` : null;
}

/** one record of vpcep-sim's public zone (where a provider proves its domain) */
export interface PublicRecord {
  /** lower case, no final dot */
  readonly name: string;
  readonly type: 'TXT';
  readonly value: string;
}

/** a record published through the API, with the account that published it (the store's `dnsrecord` documents) */
export interface PublishedRecord extends PublicRecord {
  readonly owner: string;
}

/** the store id of a published record: its name, type and value hashed (a TXT value may hold any character) */
export function publishedRecordId(r: PublicRecord): string {
  return createHash('sha256').update(`${r.name}\0${r.type}\0${r.value}`).digest('hex').slice(0, 32);
}

/** the public zone holds at most this many records */
export const MAX_RECORDS = 10_000;
/** so that a name's answer stays small (a few KiB): a TXT answer over DNS's 65,535 bytes cannot be sent even over TCP */
export const MAX_RECORDS_PER_NAME = 32;

/** RFC 1035 3.3.14: a TXT character-string is 255 bytes at most (one string per record here) */
const MAX_TXT_BYTES = 255;

/** a record's name as the zone keeps it: lower case, no final dot */
export const normalRecordName = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** what is wrong with a record to publish (its name normalized), or null */
export function recordProblem(name: string, value: string): string | null {
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?$|^[a-z0-9_]$/.test(l))) {
    return `name ${JSON.stringify(name.slice(0, 80))}: labels of 1-63 of a-z 0-9 - _, 253 characters at most`;
  }
  if (new TextEncoder().encode(value).length > MAX_TXT_BYTES) return `value: ${MAX_TXT_BYTES} bytes at most (one TXT string)`;
  return null;
}

/**
 * Whether the public zone proves a private DNS name's domain: the TXT value at `<txt_name>.<domain>`,
 * or at the domain itself (a provider whose DNS refuses underscores), for the name's domain or a
 * parent domain of it with two labels at least (002_05e46307768ae273.txt: "You can verify the domain
 * of a subdomain ... verify example.com, instead of a.example.com").
 */
export function privateDnsVerified(p: Pick<PrivateDnsName, 'name' | 'txt_name' | 'txt_value'>, records: Iterable<PublicRecord>): boolean {
  const labels = (p.name.startsWith('*.') ? p.name.slice(2) : p.name).split('.');
  const wanted = new Set<string>();
  for (let i = 0; i <= labels.length - 2; i++) {
    const domain = labels.slice(i).join('.');
    wanted.add(domain);
    wanted.add(`${p.txt_name}.${domain}`);
  }
  for (const r of records) if (r.type === 'TXT' && r.value === p.txt_value && wanted.has(r.name)) return true;
  return false;
}
