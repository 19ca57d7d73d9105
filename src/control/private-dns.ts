// A service's private DNS name and its domain verification (002_05e46307768ae273.txt "VPC endpoint
// service private DNS name verification"), and vpcep-sim's public zone where providers publish the
// TXT record that proves a domain. Setting a name (or a new one) makes a fresh TXT name and value
// and the state pendingVerification; StartVpcEndpointServicePrivateDnsVerification looks the record
// up in the public zone: verified, else failed. Publishing a record also verifies the services
// waiting for it (AWS polls the provider's DNS on its own). The public zone holds the config's
// records (dns.public_records) and those published through the API, which are stored.
import { randomInt } from 'node:crypto';
import { awsRegion } from '../model/aws-identity.js';
import {
  awsPublicServiceName, cloudZoneProblem, MAX_RECORDS, MAX_RECORDS_PER_NAME, normalRecordName, privateDnsNameProblem, privateDnsVerified, publishedRecordId, recordProblem, type PublicRecord, type PublishedRecord,
} from '../model/dns-names.js';
import { DomainError } from '../model/errors.js';
import type { Account, Endpoint, EndpointService, PrivateDnsName } from '../model/types.js';
import { privateDnsClaim, privateNameKey } from './claims.js';
import { now, type ControlState } from './state.js';

/** a record of the public zone and who published it (null: the config) */
export interface OwnedRecord extends PublicRecord {
  readonly owner: string | null;
}

/**
 * The public zone's records: the config's (which the API cannot remove) and those published
 * through the API, stored (kind `dnsrecord`, ControlState.publishedRecords) so that they survive a
 * restart and reach every daemon sharing the store.
 */
export class PublicZone {
  private readonly configured: readonly OwnedRecord[];

  constructor(configured: readonly PublicRecord[], private readonly st: ControlState) {
    this.configured = configured.map((r) => ({ ...r, name: normalRecordName(r.name), owner: null }));
  }

  all(): readonly OwnedRecord[] {
    return [...this.configured, ...this.st.publishedRecords.values()];
  }

  /**
   * adds a record (the same name, type and value once); InvalidParameter for a bad one. The zone is
   * shared, so no account may crowd the others out of it: a name that holds another account's
   * records is theirs until they remove them (as a name lives in one owner's zone on the internet),
   * and each account publishes at most its `dns_records` quota. On a store shared by several daemons
   * each record claims its slot of its name's records and of its account's (ControlState.claimedDocument).
   */
  add(caller: Pick<Account, 'name' | 'quotas'>, r: PublicRecord): Promise<OwnedRecord> {
    const owner = caller.name;
    const name = normalRecordName(r.name);
    // an account publishes in its own domains only: not at the names of other accounts' endpoints
    const bad = recordProblem(name, r.value) ?? cloudZoneProblem(name);
    if (bad) return Promise.reject(new DomainError('InvalidParameter', bad));
    return this.st.serial(async () => {
      const found = this.all().find((x) => x.name === name && x.type === r.type && x.value === r.value);
      if (found) return found;
      const published = [...this.st.publishedRecords.values()];
      if (published.some((x) => x.name === name && x.owner !== owner)) {
        throw new DomainError('InvalidParameter', `name ${name} holds records another account published: a name of the public zone is the account's that published there first, until it removes them`);
      }
      const own = published.filter((x) => x.owner === owner).length;
      if (own >= caller.quotas.dns_records) {
        throw new DomainError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.dns_records} records of the public zone per account`);
      }
      if (this.configured.length + this.st.publishedRecords.size >= MAX_RECORDS) {
        throw new DomainError('QuotaExceeded', `the public zone holds at most ${MAX_RECORDS} records`);
      }
      if (this.all().filter((x) => x.name === name).length >= MAX_RECORDS_PER_NAME) {
        throw new DomainError('QuotaExceeded', `a name of the public zone holds at most ${MAX_RECORDS_PER_NAME} records`);
      }
      const added: PublishedRecord = { name, type: r.type, value: r.value, owner };
      const id = publishedRecordId(added);
      await this.st.commit([{ kind: 'dnsrecord', id, value: added }], () => this.st.publishedRecords.set(id, added));
      return added;
    });
  }

  /** removes the caller's records of a name (and value, when given); NotFound when none is the caller's */
  remove(owner: string, name: string, value?: string): Promise<number> {
    const n = normalRecordName(name);
    return this.st.serial(async () => {
      const ids = [...this.st.publishedRecords].filter(([, r]) => r.name === n && (value === undefined || r.value === value) && r.owner === owner).map(([id]) => id);
      if (!ids.length) throw new DomainError('NotFound', `no record ${n}${value === undefined ? '' : ` with that value`} published by the caller`);
      await this.st.commit(ids.map((id) => ({ kind: 'dnsrecord' as const, id, value: null })), () => {
        for (const id of ids) this.st.publishedRecords.delete(id);
      });
      return ids.length;
    });
  }
}

const BASE36 = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const random = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('');

/**
 * A new private DNS name for a service: InvalidParameter for a bad name; the same name as before
 * keeps its record and state (AWS keeps a name's verification until the name changes).
 */
export function newPrivateDns(name: string, previous: PrivateDnsName | undefined): PrivateDnsName {
  const bad = privateDnsNameProblem(name);
  if (bad) throw new DomainError('InvalidParameter', `the private DNS name ${JSON.stringify(name.slice(0, 80))}: ${bad}`);
  if (previous?.name === name) return previous;
  // the shapes of AWS's example: _vpce:aksldja21i1 / vpce:asjdakjshd78126eu21 (the name a label: no colon)
  return { name, state: 'pendingVerification', txt_name: `_${random(BASE36, 12)}`, txt_value: `vpce:${random(ALNUM, 20)}` };
}

/**
 * A second endpoint with private DNS on for the same name in one VPC is refused: the first one
 * keeps the name (003_1ea5fa6dffe78555.txt: "cannot be enabled for multiple interface endpoints in
 * the same VPC at the same time"; AWS answers a conflicting DNS domain likewise).
 */
export function checkPrivateDnsConflict(st: ControlState, e: Pick<Endpoint, 'id' | 'vpc_id' | 'service_id'>): void {
  const key = privateNameKey(st.services.get(e.service_id));
  const conflict = key === null ? null : privateDnsConflict(st, e, key);
  if (conflict !== null) throw new DomainError('InvalidParameter', `private DNS cannot be enabled: ${conflict} (a conflicting DNS domain)`);
}

/** whether another endpoint of E's VPC has the private DNS name KEY (privateNameKey): which, in words; null: none */
export function privateDnsConflict(st: ControlState, e: Pick<Endpoint, 'id' | 'vpc_id'>, key: string): string | null {
  // an endpoint of another node (a fleet) holding the name, whose batch this node has not seen yet (its claim learnt from a conflict)
  const claim = st.claims.held.get(privateDnsClaim(e.vpc_id, key));
  if (claim && claim.holder !== `endpoint/${e.id}`) return `another endpoint in VPC ${e.vpc_id} already has the private DNS name of this service`;
  // the endpoints of creates still landing too: two at once must not both take the name
  for (const o of st.endpointsLanding()) {
    if (o.id === e.id || o.vpc_id !== e.vpc_id || !o.enable_dns || o.status === 'deleting' || o.service_type !== 'interface') continue;
    if (privateNameKey(st.services.get(o.service_id)) !== key) continue;
    // an operator's service: the name it answers (`kv.us-east-1.amazonaws.com`), which both dialects' callers know, not its stored `sim-1.kv`
    const service = st.services.get(o.service_id);
    const name = key.startsWith('public:') && service ? awsPublicServiceName(service, awsRegion(st.region), st.region) : key;
    return `endpoint ${o.id} in VPC ${e.vpc_id} already has the private DNS name ${name}`;
  }
  return null;
}


/** StartVpcEndpointServicePrivateDnsVerification: looks the TXT record up now; verified or failed */
export async function startVerification(st: ControlState, zone: PublicZone, caller: Account, id: string): Promise<EndpointService> {
  return st.serial(async () => {
    const s = st.ownService(caller, id);
    if (s.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint service ${id} is being deleted`);
    if (!s.private_dns) throw new DomainError('InvalidParameter', `endpoint service ${id} has no private DNS name to verify`);
    const state = privateDnsVerified(s.private_dns, zone.all()) ? 'verified' : 'failed';
    const next: EndpointService = { ...s, private_dns: { ...s.private_dns, state }, updated_at: now() };
    await st.commit([{ kind: 'service', id, value: next }], () => st.services.set(id, next));
    return next;
  });
}

/** after a record is published: the services waiting for verification that it proves become verified */
export async function verifyWaiting(st: ControlState, zone: PublicZone): Promise<void> {
  await st.serial(async () => {
    for (const s of st.services.values()) {
      const p = s.private_dns;
      if (p?.state !== 'pendingVerification' || !privateDnsVerified(p, zone.all())) continue;
      const next: EndpointService = { ...s, private_dns: { ...p, state: 'verified' }, updated_at: now() };
      await st.commit([{ kind: 'service', id: s.id, value: next }], () => st.services.set(s.id, next));
    }
  });
}
