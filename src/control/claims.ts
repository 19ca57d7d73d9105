// Allocations checked by the store (issue 17): each value a node hands out, an endpoint's marker id,
// its SNAT address, the private IP of each ENI in its VPC and its slot of the account's endpoint
// quota, is a `claim` document whose key is the value, written in the endpoint's own commit with the
// expectation that it is absent. Two writers racing for the same value (two daemons sharing etcd,
// or two mutations of one daemon in flight together) never both win: the loser's commit fails
// whole with StoreConflict, learns the value is taken and prepares again. The same holds for the
// values other documents keep unique: a service's slot of the account's service quota, a security
// group's name in its VPC, a load balancer's and a target group's name in its account, an internet
// gateway's VPC (one gateway per VPC), a target group's one load balancer, a private DNS name in a VPC
// (one endpoint with private DNS per name per VPC), a route table's one endpoint route per service (a
// live gateway endpoint's), a published record's slot of its name's records and of its account's
// records (the public zone's). An endpoint, a service, a notification, a route table or a
// network ACL made with a client token claims the token in its account: two nodes taking the same
// retry at once make one. The loser of a client token's claim, or of a load balancer's or target
// group's name (ELBv2's creates are idempotent: the same settings answer the one of that name),
// answers what holds it once its node holds the winner's batch (ANSWERED_CLAIMS).
import { createHash } from 'node:crypto';
import { DomainError } from '../model/errors.js';
import { LIVE_ENDPOINT_STATUSES, type ClientToken, type Endpoint, type EndpointService } from '../model/types.js';
import { StoreConflict, type Change, type Expectation } from '../store/store.js';

/** a claim held: its holder (`endpoint/<id>`; `?` for one learnt from a conflict) and version */
export interface Claim {
  readonly holder: string;
  readonly version: number;
}

export const markerClaim = (m: number): string => `marker/${m}`;
export const snatClaim = (ip: string): string => `snat/${ip}`;
export const ipClaim = (vpcId: string, ip: string): string => `ip/${vpcId}/${ip}`;
export const quotaClaim = (owner: string, slot: number): string => `endpoint-quota/${owner}/${slot}`;
export const serviceQuotaClaim = (owner: string, slot: number): string => `service-quota/${owner}/${slot}`;
const TOKEN_CLAIMS = 'client-token/';
/** a client token of an account for a kind of resource (hashed: a token is any 64 printable ASCII characters, `/` too) */
export const tokenClaim = (kind: string, owner: string, token: string): string =>
  `${TOKEN_CLAIMS}${kind}/${owner}/${createHash('sha256').update(token).digest('hex').slice(0, 32)}`;
const LOAD_BALANCER_NAMES = 'lb-name/';
const TARGET_GROUP_NAMES = 'tg-name/';
export const loadBalancerNameClaim = (owner: string, name: string): string => `${LOAD_BALANCER_NAMES}${owner}/${name}`;
/** a target group's one load balancer (AWS: a network load balancer's target group serves it alone) */
export const targetGroupLoadBalancerClaim = (targetGroupId: string): string => `tg-lb/${targetGroupId}`;
/**
 * The private DNS name an interface endpoint with private DNS takes in its VPC, as a key: a
 * provider's name, or an operator's interface service's own AWS name (`<name>.<region>.amazonaws.com`,
 * one per service: its id stands for it); null for a service with neither.
 */
export function privateNameKey(s: EndpointService | undefined): string | null {
  if (s?.private_dns) return s.private_dns.name;
  return s?.public && s.service_type === 'interface' ? `public:${s.id}` : null;
}

/** a private DNS name in a VPC, taken by one endpoint with private DNS on (its key: privateNameKey) */
const PRIVATE_DNS = 'private-dns/';
export const privateDnsClaim = (vpcId: string, key: string): string => `${PRIVATE_DNS}${vpcId}/${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
export const targetGroupNameClaim = (owner: string, name: string): string => `${TARGET_GROUP_NAMES}${owner}/${name}`;
/** a route table's route to a service, taken by one live gateway endpoint (002_05e46307768ae273.txt: one route per service in a table) */
export const routeClaim = (tableId: string, serviceId: string): string => `route/${tableId}/${serviceId}`;
/**
 * a slot of the records of a name of the public zone (hashed: a name is up to 253 characters). Slots
 * fill from 0, so the first record of an empty name takes slot 0: two accounts publishing first at
 * once race for the same claim, and the loser, once it holds the winner's record, is refused (a
 * name is the account's that published there first).
 */
const RECORD_NAMES = 'dns-name/';
export const recordNameClaim = (name: string, slot: number): string => `${RECORD_NAMES}${createHash('sha256').update(name).digest('hex').slice(0, 32)}/${slot}`;
/** a slot of an account's quota of records of the public zone */
export const recordQuotaClaim = (owner: string, slot: number): string => `dns-quota/${owner}/${slot}`;
/** the claims whose loser answers the resource that holds it (or refuses by its settings, or by its account's name), which comes in the claim's batch */
export const ANSWERED_CLAIMS: readonly string[] = [TOKEN_CLAIMS, LOAD_BALANCER_NAMES, TARGET_GROUP_NAMES, RECORD_NAMES];

/** a slot of a quota: the first free one of COUNT slots from FROM (the count held already: two writers racing pick the same) */
export interface QuotaSlots {
  readonly slot: (n: number) => string;
  readonly count: number;
  readonly from: number;
  readonly exceeded: string;
}

/** a document other than an endpoint whose values are claimed: its holder, its unique values, and its slot of each quota when it is new */
export interface ClaimedDocument {
  readonly holder: string;
  /** absent: the document is deleted (its claims let go) */
  readonly values?: readonly string[];
  /** a new document's slot of each */
  readonly quotas?: readonly QuotaSlots[];
  /**
   * the refusal when another writer holds the claim of one of `values` (a name or a VPC this node
   * has not yet seen taken): the one the caller gets when it sees the holder; absent or null:
   * StoreConflict, try again
   */
  readonly taken?: (claim: string) => DomainError | null;
}

/** a document of KNOWN made with a client token: the token claimed when it is new, let go with it (null: nothing to claim) */
export function tokenDocument(c: Change, known: ReadonlyMap<string, unknown>): ClaimedDocument | null {
  const d = c.value as { owner: string; client_token?: ClientToken } | null;
  if (d && (known.has(c.id) || !d.client_token)) return null;
  return { holder: `${c.kind}/${c.id}`, values: d?.client_token ? [tokenClaim(c.kind, d.owner, d.client_token.token)] : undefined };
}

/** the claims held, by id, with the ids of each holder and the quota slots of each account (no walk of every claim per create) */
export class ClaimMap extends Map<string, Claim> {
  private readonly holders = new Map<string, Set<string>>();
  private readonly slots = new Map<string, number>();
  /** told each claim that is let go (an address may be free again) */
  onRelease: ((id: string) => void) | undefined;

  override set(id: string, c: Claim): this {
    const old = super.get(id);
    if (old?.holder !== c.holder) {
      if (old) this.unindex(id, old);
      let ids = this.holders.get(c.holder);
      if (!ids) this.holders.set(c.holder, (ids = new Set()));
      ids.add(id);
      const owner = quotaOwner(id);
      if (owner !== null && !old) this.slots.set(owner, (this.slots.get(owner) ?? 0) + 1);
    }
    return super.set(id, c);
  }

  override delete(id: string): boolean {
    const old = super.get(id);
    if (!old) return false;
    super.delete(id);
    this.unindex(id, old);
    const owner = quotaOwner(id);
    if (owner !== null) {
      const n = (this.slots.get(owner) ?? 1) - 1;
      if (n) this.slots.set(owner, n);
      else this.slots.delete(owner);
    }
    this.onRelease?.(id);
    return true;
  }

  override clear(): void {
    super.clear();
    this.holders.clear();
    this.slots.clear();
  }

  /** the ids HOLDER holds */
  heldBy(holder: string): string[] {
    return [...(this.holders.get(holder) ?? [])];
  }

  /** the quota slots of OWNER held */
  slotsOf(owner: string): number {
    return this.slots.get(owner) ?? 0;
  }

  private unindex(id: string, old: Claim): void {
    const ids = this.holders.get(old.holder);
    ids?.delete(id);
    if (ids && !ids.size) this.holders.delete(old.holder);
  }
}

const QUOTA = 'endpoint-quota/';
function quotaOwner(id: string): string | null {
  if (!id.startsWith(QUOTA)) return null;
  const slash = id.lastIndexOf('/');
  return slash > QUOTA.length ? id.slice(QUOTA.length, slash) : null;
}

/**
 * the values an endpoint holds (its quota slot aside); PRIVATE_NAME: the key of the private DNS
 * name its service gives an interface endpoint with private DNS on (null: none)
 */
function valuesOf(e: Endpoint | undefined, privateName: (e: Endpoint) => string | null): Set<string> {
  const out = new Set<string>();
  if (!e) return out;
  out.add(markerClaim(e.marker_id));
  if (e.enable_dns && e.service_type === 'interface' && e.status !== 'deleting') {
    const key = privateName(e);
    if (key !== null) out.add(privateDnsClaim(e.vpc_id, key));
  }
  if (e.service_type === 'gateway' && LIVE_ENDPOINT_STATUSES.has(e.status)) for (const t of e.routetables) out.add(routeClaim(t, e.service_id));
  if (e.snat_ip) out.add(snatClaim(e.snat_ip));
  for (const n of e.enis) out.add(ipClaim(e.vpc_id, n.ip));
  if (e.client_token) out.add(tokenClaim('endpoint', e.owner, e.client_token.token));
  return out;
}

/** the key of the private DNS name of an endpoint's service (privateNameKey) before and after a batch (which may change the service) */
export interface PrivateNames {
  readonly before: (e: Endpoint) => string | null;
  readonly after: (e: Endpoint) => string | null;
}
const NO_PRIVATE_NAMES: PrivateNames = { before: () => null, after: () => null };

export class Claims {
  /** every claim known: loaded, made by this node, or learnt from a conflict */
  readonly held = new ClaimMap();
  /** claims in commits under way */
  private readonly pending = new Set<string>();

  /** SPREAD (a fleet): a new endpoint's quota slot is searched from a random one, so that nodes racing for an account's quota rarely pick the same slot */
  constructor(stored: Iterable<[id: string, holder: string, version: number]> = [], private readonly spread = false) {
    for (const [id, holder, version] of stored) this.held.set(id, { holder, version });
  }

  taken(id: string): boolean {
    return this.held.has(id) || this.pending.has(id);
  }

  /**
   * The claim changes and expectations of an endpoint going from BEFORE to AFTER (undefined:
   * absent): new values claimed (expected absent), values let go deleted (at their version), and a
   * new endpoint's quota slot (QUOTA slots: QuotaExceeded when none is free).
   */
  plan(
    id: string, before: Endpoint | undefined, after: Endpoint | undefined, quota: number, privateName: PrivateNames = NO_PRIVATE_NAMES,
  ): { changes: Change[]; expect: Expectation[]; ids: string[] } {
    const holder = `endpoint/${id}`;
    const changes: Change[] = [];
    const expect: Expectation[] = [];
    const ids: string[] = [];
    const was = valuesOf(before, privateName.before);
    // the private DNS names held as claimed, not only as worked out from the service's name now
    // (one claimed under an earlier name is let go)
    for (const c of this.held.heldBy(holder)) if (c.startsWith(PRIVATE_DNS)) was.add(c);
    const is = valuesOf(after, privateName.after);
    const claim = (c: string) => {
      changes.push({ kind: 'claim', id: c, value: { holder } });
      expect.push({ kind: 'claim', id: c, version: 0 });
      ids.push(c);
    };
    for (const c of is) {
      if (was.has(c) || this.held.get(c)?.holder === holder) continue;
      if (this.taken(c)) throw new DomainError('StoreConflict', `${c} is taken`);
      claim(c);
    }
    if (!before && after) {
      // from the count held: slots fill from 0, so the first free one is there unless some were let go
      // (on a fleet from a random slot: every node holds the same count and would pick the same)
      const from = this.spread ? Math.floor(Math.random() * quota) : this.held.slotsOf(after.owner);
      let slot = -1;
      for (let i = 0; i < quota && slot < 0; i++) {
        const s = (from + i) % quota;
        if (!this.taken(quotaClaim(after.owner, s))) slot = s;
      }
      if (slot < 0) throw new DomainError('QuotaExceeded', `quota exceeded: at most ${quota} endpoints per account`);
      claim(quotaClaim(after.owner, slot));
    }
    const letGo = after ? [...was].filter((c) => !is.has(c)) : this.held.heldBy(holder);
    for (const c of letGo) {
      const h = this.held.get(c);
      if (h?.holder !== holder) continue;
      changes.push({ kind: 'claim', id: c, value: null });
      expect.push({ kind: 'claim', id: c, version: h.version });
    }
    for (const c of ids) this.pending.add(c);
    return { changes, expect, ids };
  }

  /** the claim changes and expectations of a document other than an endpoint (ClaimedDocument) */
  planDocument(d: ClaimedDocument): { changes: Change[]; expect: Expectation[]; ids: string[] } {
    const changes: Change[] = [];
    const expect: Expectation[] = [];
    const ids: string[] = [];
    const was = new Set(this.held.heldBy(d.holder));
    const is = new Set(d.values ?? []);
    const claim = (c: string) => {
      changes.push({ kind: 'claim', id: c, value: { holder: d.holder } });
      expect.push({ kind: 'claim', id: c, version: 0 });
      ids.push(c);
    };
    for (const c of is) {
      if (was.has(c)) continue;
      if (this.taken(c)) throw d.taken?.(c) ?? this.heldElsewhere(c);
      claim(c);
    }
    for (const q of was.size ? [] : d.quotas ?? []) {
      let slot: string | undefined;
      for (let i = 0; i < q.count && slot === undefined; i++) {
        const s = q.slot((q.from + i) % q.count);
        if (!this.taken(s)) slot = s;
      }
      if (slot === undefined) throw new DomainError('QuotaExceeded', q.exceeded);
      claim(slot);
      is.add(slot);
    }
    // deleted: every claim it holds goes; changed: the values it no longer has
    for (const c of was) {
      if (d.values && is.has(c)) continue;
      changes.push({ kind: 'claim', id: c, value: null });
      expect.push({ kind: 'claim', id: c, version: this.held.get(c)!.version });
    }
    for (const c of ids) this.pending.add(c);
    return { changes, expect, ids };
  }

  /**
   * a value another writer holds, whose holder this node may not hold yet (a claim learnt from a
   * conflict, or one of a commit under way): a conflict on the claim, which the mutation queue
   * answers by running the mutation again once this node holds the claim's batch (ANSWERED_CLAIMS:
   * the retry answers the holder, or refuses by its settings)
   */
  private heldElsewhere(id: string): StoreConflict {
    const key = `claim/${id}`;
    return new StoreConflict([key], new Map([[key, Math.max(1, this.held.get(id)?.version ?? 1)]]));
  }

  /** the commit of IDS is over (either way) */
  settle(ids: readonly string[]): void {
    for (const c of ids) if (this.pending.delete(c) && !this.held.has(c)) this.held.onRelease?.(c);
  }

  /** the commit landed at REVISION */
  committed(changes: readonly Change[], revision: number): void {
    for (const c of changes) {
      if (c.kind !== 'claim') continue;
      if (c.value === null) this.held.delete(c.id);
      else this.held.set(c.id, { holder: (c.value as { holder: string }).holder, version: revision });
    }
  }

  /** the claims a conflict named are held by another writer */
  learn(keys: readonly string[]): void {
    for (const k of keys) {
      if (!k.startsWith('claim/')) continue;
      const id = k.slice('claim/'.length);
      if (!this.held.has(id)) this.held.set(id, { holder: '?', version: -1 });
    }
  }
}
