// A service's private DNS name and its domain verification (002_05e46307768ae273.txt "VPC endpoint
// service private DNS name verification"), and vpcep-sim's public zone where providers publish the
// TXT record that proves a domain. Setting a name (or a new one) makes a fresh TXT name and value
// and the state pendingVerification; StartVpcEndpointServicePrivateDnsVerification looks the record
// up in the public zone: verified, else failed. Publishing a record also verifies the services
// waiting for it (AWS polls the provider's DNS on its own). The public zone holds the config's
// records (dns.public_records) and those published through the API, which last until a restart.
import { randomInt } from 'node:crypto';
import { privateDnsNameProblem, privateDnsVerified, type PublicRecord } from '../model/dns-names.js';
import { DomainError } from '../model/errors.js';
import type { Account, Endpoint, EndpointService, PrivateDnsName } from '../model/types.js';
import { now, type ControlState } from './state.js';

/** a published record and who published it (null: the config) */
export interface OwnedRecord extends PublicRecord {
  readonly owner: string | null;
}

/** the public zone's records; the config's cannot be removed through the API */
export class PublicZone {
  private readonly records: OwnedRecord[] = [];
  /** moves at every change (the DNS server's view cache reads it) */
  revision = 0;

  constructor(configured: readonly PublicRecord[]) {
    for (const r of configured) this.records.push({ ...r, name: normalName(r.name), owner: null });
  }

  all(): readonly OwnedRecord[] {
    return this.records;
  }

  /** adds a record (the same name, type and value once); InvalidParameter for a bad one */
  add(owner: string, r: PublicRecord): OwnedRecord {
    const name = normalName(r.name);
    const bad = recordProblem(name, r.value);
    if (bad) throw new DomainError('InvalidParameter', bad);
    const found = this.records.find((x) => x.name === name && x.type === r.type && x.value === r.value);
    if (found) return found;
    if (this.records.length >= MAX_RECORDS) throw new DomainError('QuotaExceeded', `the public zone holds at most ${MAX_RECORDS} records`);
    const added: OwnedRecord = { name, type: r.type, value: r.value, owner };
    this.records.push(added);
    this.revision++;
    return added;
  }

  /** removes the caller's records of a name (and value, when given); NotFound when none is the caller's */
  remove(owner: string, name: string, value?: string): number {
    const n = normalName(name);
    let removed = 0;
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i]!;
      if (r.name !== n || (value !== undefined && r.value !== value) || r.owner !== owner) continue;
      this.records.splice(i, 1);
      removed++;
    }
    if (!removed) throw new DomainError('NotFound', `no record ${n}${value === undefined ? '' : ` with that value`} published by the caller`);
    this.revision++;
    return removed;
  }
}

const MAX_RECORDS = 10_000;
/** RFC 1035 3.3.14: a TXT character-string is 255 bytes at most (one string per record here) */
const MAX_TXT_BYTES = 255;

const normalName = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** what is wrong with a record to publish, or null */
export function recordProblem(name: string, value: string): string | null {
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?$|^[a-z0-9_]$/.test(l))) {
    return `name ${JSON.stringify(name.slice(0, 80))}: labels of 1-63 of a-z 0-9 - _, 253 characters at most`;
  }
  if (Buffer.byteLength(value) > MAX_TXT_BYTES) return `value: ${MAX_TXT_BYTES} bytes at most (one TXT string)`;
  return null;
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
  if (bad) throw new DomainError('InvalidParameter', `PrivateDnsName ${JSON.stringify(name.slice(0, 80))}: ${bad}`);
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
  const name = st.services.get(e.service_id)?.private_dns?.name;
  if (!name) return;
  for (const o of st.endpoints.values()) {
    if (o.id === e.id || o.vpc_id !== e.vpc_id || !o.enable_dns || o.status === 'deleting') continue;
    if (st.services.get(o.service_id)?.private_dns?.name !== name) continue;
    throw new DomainError('InvalidParameter', `private DNS cannot be enabled: endpoint ${o.id} in VPC ${e.vpc_id} already has the private DNS name ${name} (a conflicting DNS domain)`);
  }
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
