// Applies the config's accounts and simulated network (VPCs, subnets, ports, route tables, public
// services) over what the store already holds. Idempotent: ids that the config leaves out are
// generated once and kept under a natural key, VPC numbers are handed out once and kept, and a
// change that would pull a VPC, subnet, port or public service from under a resource in use is
// refused with a message that names it.
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { DEFAULT_AWS_ACCOUNT_ID } from '../model/aws-identity.js';
import { gatewayOf, parseTarget, type AccountSpec, type Config, type PublicServiceSpec } from '../model/config.js';
import { DEFAULT_ACCOUNT_NAME, DEFAULTS } from '../model/defaults.js';
import { cidrCovers, cidrOf, cidrContains, ipToInt } from '../net/cidr.js';
import { MAX_VPC_NUMBER, pickVpcNumber } from '../net/loopback.js';
import { keyOf, snapshotAfter, StoreConflict, StoreError, type Change, type Documents, type Snapshot, type Store } from '../store/store.js';
import type { Account, Endpoint, EndpointService, Route, RouteTable, Vpc } from '../model/types.js';

export interface Inventory {
  readonly accounts: readonly Account[];
  readonly vpcs: readonly Vpc[];
  readonly publicServices: readonly EndpointService[];
  /** every loopback number handed out, by VPC id (config VPCs' and those made through the API) */
  readonly vpcNumbers?: Readonly<Record<string, number>>;
  /** the numbers of deleted API VPCs (meta `vpc_numbers_retired`), less one a config VPC took */
  readonly retiredVpcNumbers?: Readonly<Record<string, number>>;
  /** what must be written so the next start sees the same ids and numbers */
  readonly changes: readonly Change[];
}

/** meta record: the loopback numbers of deleted API VPCs, each with when it was retired (network.ts) */
export const RETIRED_VPC_NUMBERS = 'vpc_numbers_retired';

export class InventoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InventoryError';
  }
}

const hex32 = () => randomBytes(16).toString('hex');

export interface InventoryOptions {
  /** the token of the `default` account when the config declares no accounts */
  readonly defaultToken: string;
  /** names the config in messages */
  readonly source: string;
  readonly now: string;
}

export function applyInventory(config: Config, snap: Documents, opts: InventoryOptions): Inventory {
  const ids = { ...((snap.get('meta')?.get('ids') as Record<string, string> | undefined) ?? {}) };
  const numbers = { ...((snap.get('meta')?.get('vpc_numbers') as Record<string, number> | undefined) ?? {}) };
  let retired = (snap.get('meta')?.get(RETIRED_VPC_NUMBERS) as Record<string, number> | undefined) ?? {};
  let retiredTaken = false;
  const idFor = (key: string, make: () => string) => (ids[key] ??= make());

  const accountSpecs: ReadonlyArray<AccountSpec> = config.accounts.length
    ? config.accounts
    : [{ name: DEFAULT_ACCOUNT_NAME, token: opts.defaultToken, quotas: { ...DEFAULTS.quotas }, aws: { account_id: DEFAULT_AWS_ACCOUNT_ID } }];
  const awsIdOf = awsAccountIds(accountSpecs, ids, opts.source);
  const accounts: Account[] = accountSpecs.map((a) => ({
    name: a.name,
    domain_id: a.domain_id ?? idFor(`account:${a.name}:domain_id`, hex32),
    project_id: a.project_id ?? idFor(`account:${a.name}:project_id`, hex32),
    token: a.token ?? opts.defaultToken,
    quotas: a.quotas,
    aws_account_id: awsIdOf(a),
    ...(a.aws?.access_key ? { aws_access_key: a.aws.access_key } : {}),
  }));

  const usedNumbers = new Set(Object.values(numbers));
  const vpcs: Vpc[] = config.vpcs.map((v) => {
    const id = v.id ?? idFor(`vpc:${v.account}:${v.cidr}`, randomUUID);
    let number = numbers[id];
    if (number === undefined) {
      // as an API VPC's (network.ts): never a deleted VPC's while another is free
      const picked = pickVpcNumber(usedNumbers, retired);
      if (picked === null) throw new InventoryError(`${opts.source}: VPC ${id}: every loopback number 1-${MAX_VPC_NUMBER} is taken`);
      number = picked.number;
      if (picked.retired) {
        retired = picked.retired;
        retiredTaken = true;
      }
      numbers[id] = number;
      usedNumbers.add(number);
    }
    const subnets = v.subnets.map((s) => ({
      id: s.id ?? idFor(`subnet:${id}:${s.cidr}`, randomUUID),
      cidr: cidrOf(s.cidr).text,
      gateway_ip: gatewayOf(cidrOf(s.cidr)),
      zone: s.zone ?? config.zones[0]!,
    }));
    const subnetIdOf = (ref: string) => subnets[v.subnets.findIndex((s) => s.id === ref || (s.id === undefined && s.cidr === ref))]!.id;
    const ports = v.ports.map((p) => ({
      id: p.id ?? idFor(`port:${id}:${p.ip}`, randomUUID),
      subnet_id: subnetIdOf(p.subnet),
      ip: p.ip,
      type: p.type,
      ...(p.target ? { target: p.target } : {}),
    }));
    const local = { destination: cidrOf(v.cidr).text, type: 'local' as const, owner: 'system' as const };
    const tables: RouteTable[] = v.route_tables.map((t, i) => ({
      id: t.id ?? idFor(`rtb:${id}:${t.default ? 'default' : i}`, randomUUID),
      default: t.default,
      subnets: t.subnets.map(subnetIdOf),
      routes: [local, ...t.routes.map((r) => ({ ...r, destination: cidrOf(r.destination).text, owner: 'config' as const }))],
    }));
    // Every VPC has a default route table with its local route.
    if (!tables.some((t) => t.default)) {
      tables.unshift({ id: idFor(`rtb:${id}:default`, randomUUID), default: true, subnets: [], routes: [local] });
    }
    return { id, account: v.account, cidr: cidrOf(v.cidr).text, number, subnets, ports, route_tables: tables };
  });

  const storedServices = [...(snap.get('service')?.values() ?? [])] as EndpointService[];
  const publicServices = config.public_services.map((p) => publicService(p, config.region, storedServices, idFor, opts.now));

  checkInUse(snap, accounts, vpcs, publicServices, opts.source);

  const changes: Change[] = [
    { kind: 'meta', id: 'ids', value: ids },
    { kind: 'meta', id: 'vpc_numbers', value: numbers },
    ...(retiredTaken ? [{ kind: 'meta', id: RETIRED_VPC_NUMBERS, value: retired } as Change] : []),
  ];
  const accountNames = new Set(accounts.map((a) => a.name));
  for (const name of snap.get('account')?.keys() ?? []) if (!accountNames.has(name)) changes.push({ kind: 'account', id: name, value: null });
  for (const a of accounts) changes.push({ kind: 'account', id: a.name, value: { ...a, token: undefined, aws_access_key: undefined } });
  const vpcIds = new Set(vpcs.map((v) => v.id));
  for (const id of snap.get('vpc')?.keys() ?? []) if (!vpcIds.has(id)) changes.push({ kind: 'vpc', id, value: null });
  for (const v of vpcs) changes.push({ kind: 'vpc', id: v.id, value: v });
  const publicIds = new Set(publicServices.map((s) => s.id));
  for (const s of storedServices) if (s.public && !publicIds.has(s.id)) changes.push({ kind: 'service', id: s.id, value: null });
  for (const s of publicServices) changes.push({ kind: 'service', id: s.id, value: s });
  return { accounts, vpcs, publicServices, vpcNumbers: numbers, retiredVpcNumbers: retired, changes };
}

/** rounds of load, apply and commit before a start-up whose config documents keep changing under it gives up */
const STARTUP_ROUNDS = 10;

/**
 * Writes the config documents (MAKE: applyInventory over a snapshot) as the first commit of a
 * start, every one expected at the version it was read at (absent: 0). The ids generated at start-up
 * (accounts' domain, project and AWS ids, VPC ids and numbers, subnets', ports', route tables' and
 * public services' ids) are thereby compare-and-swap documents (issue 17): two daemons starting at
 * once on one store with the same config never both write different ids; the loser's commit fails
 * whole, it reads the winner's documents again and keeps their ids.
 */
export async function storeInventory(store: Store, make: (snap: Snapshot) => Inventory, rounds = STARTUP_ROUNDS): Promise<{ inventory: Inventory; snapshot: Snapshot }> {
  for (let round = 1; ; round++) {
    const snap = await store.load();
    const inventory = make(snap);
    const expect = inventory.changes.map((c) => ({ kind: c.kind, id: c.id, version: snap.versions.get(keyOf(c.kind, c.id)) ?? 0 }));
    try {
      const revision = await store.commit(inventory.changes, expect);
      // the snapshot after the commit, without loading every document again when nothing came between (issue 16: a restart's time)
      return { inventory, snapshot: snapshotAfter(snap, inventory.changes, revision) ?? await store.load() };
    } catch (err) {
      if (!(err instanceof StoreConflict)) throw err;
      if (round >= rounds) throw new StoreError(`${store.location}: the config documents changed under this start ${rounds} times (other daemons starting with another config?): ${err.message}`);
    }
  }
}

const awsDigits = () => String(randomInt(0, 1e12)).padStart(12, '0');

/**
 * Each account's 12-digit AWS id: the configured one, else the one generated for it before (kept in
 * the meta ids, like the domain ids), else a new one that no other account has and that is not
 * 000000000000 (the embedded default account's). Fills IDS with what it generates.
 */
function awsAccountIds(specs: readonly AccountSpec[], ids: Record<string, string>, source: string): (a: AccountSpec) => string {
  const key = (a: AccountSpec) => `account:${a.name}:aws_account_id`;
  const owners = new Map<string, string>([[DEFAULT_AWS_ACCOUNT_ID, 'the embedded default account']]);
  for (const a of specs) if (a.aws?.account_id) owners.set(a.aws.account_id, `account ${a.name}`);
  for (const a of specs) {
    const kept = ids[key(a)];
    if (a.aws?.account_id || kept === undefined) continue;
    const other = owners.get(kept);
    if (other) {
      throw new InventoryError(`${source}: account ${a.name}'s AWS account id ${kept} (generated and kept) is configured for ${other}: ` +
        `give ${other} another account_id, or give account ${a.name} its own in accounts[].aws.account_id`);
    }
    owners.set(kept, `account ${a.name}`);
  }
  // nor one kept for an account the config no longer declares (it may come back)
  const keptIds = new Set(Object.entries(ids).filter(([k]) => k.endsWith(':aws_account_id')).map(([, v]) => v));
  for (const a of specs) {
    if (a.aws?.account_id || ids[key(a)] !== undefined) continue;
    let id = awsDigits();
    while (owners.has(id) || keptIds.has(id)) id = awsDigits();
    owners.set(id, `account ${a.name}`);
    ids[key(a)] = id;
  }
  return (a) => a.aws?.account_id ?? ids[key(a)]!;
}

function publicService(
  p: PublicServiceSpec, region: string, stored: readonly EndpointService[],
  idFor: (key: string, make: () => string) => string, now: string,
): EndpointService {
  const id = idFor(`public:${p.name}`, randomUUID);
  const before = stored.find((s) => s.id === id);
  return {
    id,
    owner: 'operator',
    service_name: `${region}.${p.name}`,
    service_type: p.service_type,
    server_type: 'operator',
    port_id: null,
    vpc_id: null,
    approval_enabled: false,
    status: 'available',
    ports: p.ports.map((x) => ({ client_port: x.port, server_port: parseTarget(x.target)!.port, protocol: 'TCP' })),
    tcp_proxy: 'close',
    description: '',
    tags: [],
    permissions: [],
    created_at: before?.created_at ?? now,
    updated_at: before?.updated_at ?? now,
    public: {
      targets: p.ports.map((x) => ({ port: x.port, target: x.target, ...(x.backends ? { backends: x.backends.map((b) => ({ ...b })) } : {}) })),
      ...(p.prefix_list ? { prefix_list: { id: p.prefix_list.id, cidrs: [...p.prefix_list.cidrs] } } : {}),
    },
  };
}

/** Refuses a config that removes or changes what a service or endpoint still uses. */
function checkInUse(snap: Documents, accounts: readonly Account[], vpcs: readonly Vpc[], publics: readonly EndpointService[], source: string): void {
  const problems: string[] = [];
  // VPCs made through the API are not the config's: they stay whatever the config says
  const apiVpcs = [...(snap.get('apivpc')?.values() ?? [])] as Vpc[];
  const vpcById = new Map([...apiVpcs, ...vpcs].map((v) => [v.id, v]));
  const oldVpcs = new Map([...apiVpcs, ...((snap.get('vpc')?.values() ?? []) as Iterable<Vpc>)].map((v) => [v.id, v]));
  const accountNames = new Set(accounts.map((a) => a.name));
  const services = [...(snap.get('service')?.values() ?? [])] as EndpointService[];
  const endpoints = [...(snap.get('endpoint')?.values() ?? [])] as Endpoint[];

  const vpcProblem = (vpcId: string, user: string): boolean => {
    const now = vpcById.get(vpcId);
    const before = oldVpcs?.get(vpcId);
    if (!now) problems.push(`VPC ${vpcId} is used by ${user}: it cannot be removed while in use`);
    else if (before && (before.cidr !== now.cidr || before.account !== now.account)) {
      problems.push(`VPC ${vpcId} is used by ${user}: its cidr and account cannot change while in use (was ${before.cidr} of ${before.account})`);
    } else return false;
    return true;
  };

  for (const s of services) {
    if (s.public) continue;
    const user = `endpoint service ${s.id} (${s.service_name})`;
    if (!accountNames.has(s.owner)) problems.push(`account ${s.owner} owns ${user}: it cannot be removed while it owns resources`);
    // a service backed by network load balancers has no port: its backend is their targets
    if (!s.vpc_id || vpcProblem(s.vpc_id, user) || s.port_id === null) continue;
    /** the backend port of each config `target` met so far (services.ts refuses two backends of one real server) */
    const byTarget = new Map<string, string>();
    for (const id of s.backends?.map((b) => b.port_id) ?? [s.port_id]) {
      const port = vpcById.get(s.vpc_id)!.ports.find((p) => p.id === id);
      const before = oldVpcs?.get(s.vpc_id)?.ports.find((p) => p.id === id);
      if (!port) problems.push(`port ${id} is a backend of ${user}: it cannot be removed while in use`);
      else if (before && before.ip !== port.ip) problems.push(`port ${id} is a backend of ${user}: its ip cannot change while in use`);
      // the service's server_type is its ports' type (services.ts): a port of another type under it breaks that
      else if (port.type !== s.server_type) problems.push(`port ${id} is a backend of ${user}, server_type ${s.server_type}: its type cannot change to ${port.type} while in use`);
      else if (port.target !== undefined && byTarget.has(port.target)) {
        problems.push(`ports ${byTarget.get(port.target)} and ${id} are backends of ${user}: they cannot share the target ${port.target} (one real server) while in use`);
      }
      if (port?.target !== undefined && !byTarget.has(port.target)) byTarget.set(port.target, id);
    }
  }
  const publicIds = new Set(publics.map((p) => p.id));
  for (const e of endpoints) {
    const user = `endpoint ${e.id}`;
    if (!accountNames.has(e.owner)) problems.push(`account ${e.owner} owns ${user}: it cannot be removed while it owns resources`);
    const svc = services.find((s) => s.id === e.service_id);
    if (svc?.public && !publicIds.has(svc.id)) problems.push(`public service ${svc.service_name} is used by ${user}: it cannot be removed while in use`);
    if (vpcProblem(e.vpc_id, user)) continue;
    // a gateway endpoint's route tables stay its VPC's: one removed, or moved to another VPC (another
    // tenant's), would have had the endpoint route there
    const tables = vpcById.get(e.vpc_id)!.route_tables;
    for (const t of e.routetables ?? []) {
      if (!tables.some((x) => x.id === t)) problems.push(`route table ${t} of VPC ${e.vpc_id} is used by ${user}: it cannot be removed while in use`);
    }
    if (!e.subnet_id || !e.ip) continue;
    // every ENI (a document written before issue 13 has one, in its legacy fields)
    for (const n of e.enis ?? [{ subnet_id: e.subnet_id, ip: e.ip, zone: undefined }]) {
      const subnet = vpcById.get(e.vpc_id)!.subnets.find((s) => s.id === n.subnet_id);
      if (!subnet) problems.push(`subnet ${n.subnet_id} is used by ${user}: it cannot be removed while in use`);
      else if (n.zone !== undefined && subnet.zone !== undefined && subnet.zone !== n.zone) {
        problems.push(`subnet ${n.subnet_id} is used by ${user} in zone ${n.zone}: its zone cannot change while in use`);
      }
      else if (!cidrContains(cidrOf(subnet.cidr), ipToInt(n.ip))) {
        problems.push(`subnet ${n.subnet_id} is used by ${user} at ${n.ip}: its cidr ${subnet.cidr} no longer holds that address`);
      }
    }
  }
  // routes added through the route-table API are kept by table id: a table removed, or moved to
  // another VPC (another tenant's), took them along; a config route to the same destination shadowed
  // one that could then not be deleted
  for (const doc of (snap.get('routetable')?.values() ?? []) as Iterable<{ id: string; routes: readonly Route[] }>) {
    if (doc.routes.length === 0) continue;
    const routes = `${doc.routes.length === 1 ? 'a route' : `${doc.routes.length} routes`} added through the API (${doc.routes.map((r) => r.destination).join(', ')})`;
    const remedy = 'delete them through the API first (PUT /v1/{project}/routetables/{id} routes.del, or EC2 DeleteRoute)';
    const now = [...vpcById.values()].find((v) => v.route_tables.some((t) => t.id === doc.id));
    const before = [...oldVpcs.values()].find((v) => v.route_tables.some((t) => t.id === doc.id));
    if (!now) {
      problems.push(`route table ${doc.id} holds ${routes}: it cannot be removed while it does; ${remedy}`);
      continue;
    }
    if (before && before.id !== now.id) {
      problems.push(`route table ${doc.id} of VPC ${before.id} holds ${routes}: it cannot move to VPC ${now.id} while it does; ${remedy}`);
      continue;
    }
    const table = now.route_tables.find((t) => t.id === doc.id)!;
    const vpcCidr = cidrOf(now.cidr);
    for (const r of doc.routes) {
      if (table.routes.some((c) => c.owner === 'config' && c.destination === r.destination)) {
        problems.push(`route table ${doc.id} has a route to ${r.destination} added through the API: the config cannot declare another to it (one route per destination); ` +
          'leave it out of the config, or delete the API\'s first (PUT /v1/{project}/routetables/{id} routes.del, or EC2 DeleteRoute)');
      } else if (cidrCovers(vpcCidr, cidrOf(r.destination))) {
        problems.push(`route table ${doc.id} has a route to ${r.destination} added through the API, inside its VPC's ${now.cidr}, where only interface and instance targets may lead; ${remedy}`);
      }
    }
  }
  if (problems.length) {
    throw new InventoryError(`${source}: the configuration takes away or contradicts what is in use (delete the endpoints, services or routes first):\n  - ${problems.join('\n  - ')}`);
  }
}
