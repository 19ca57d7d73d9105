// The path tracer and the data plane agree (issue 11): for one case per refusal reason the trace's
// verdict, outcome and refusal equal what a real connection through the daemon gets (relayed,
// reset, or refused by the kernel) and the one rejected counter label it moves. Runs with both
// relays (npm run test:js-relay).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { defaultNetworkAclId } from '../../src/control/network-acls.js';
import { REFUSAL_REASONS, type RefusalReason } from '../../src/model/admission.js';
import { LIVE_ONLY_REFUSALS } from '../../src/model/path-trace.js';
import {
  ApiClient, CONSUMER, PROVIDER, ROOT, SERVICE_BODY, freePort, scrapeMetrics, startTestDaemon, tempDir, twoAccountConfig, waitFor, writeConfig,
} from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

interface World {
  readonly url: string;
  readonly provider: ApiClient;
  readonly consumer: ApiClient;
  /** the client port of the endpoint's service, and the public gateway service's port */
  readonly port: number;
  readonly publicPort: number;
  /** an echo server's port: the backend of the world's services */
  readonly backend: number;
  /** the loopback numbers of vpc-client (the consumer's) and vpc-provider-client */
  readonly k: number;
  readonly kOther: number;
  /** the in-process daemon's control plane (in-process worlds only) */
  readonly control?: ControlPlane;
}

interface WorldOptions {
  readonly dataplane?: Record<string, unknown>;
  readonly consumerQuotas?: Record<string, number>;
}

/** the two-account world, with a public gateway service on 100.125.0.8/29 (8 listeners) unless `publicPort` is null */
function worldConfig(o: WorldOptions, backendPort: number, publicPort: number | null): Record<string, unknown> {
  return twoAccountConfig({
    accounts: [PROVIDER, o.consumerQuotas ? { ...CONSUMER, quotas: o.consumerQuotas } : CONSUMER],
    dataplane: o.dataplane ?? {},
    ...(publicPort === null ? {} : {
      public_services: [{
        name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-obs', cidrs: ['100.125.0.8/29'] },
        ports: [{ port: publicPort, target: `127.0.0.1:${backendPort}` }],
      }],
    }),
  });
}

async function echoBackend(): Promise<TestBackend> {
  const b = await startBackend(echo);
  closers.push(() => b.close());
  return b;
}

async function inProcessWorld(o: WorldOptions = {}): Promise<World> {
  const backend = (await echoBackend()).port;
  const port = randomPort();
  const publicPort = port + 1;
  const d = await startTestDaemon(worldConfig(o, backend, publicPort));
  closers.push(() => d.stop());
  const vpcs = d.daemon.control.routing().vpcs;
  return {
    url: d.url, provider: d.provider, consumer: d.consumer, port, publicPort, backend, k: vpcs.get('vpc-client')!.number, kOther: vpcs.get('vpc-provider-client')!.number,
    control: d.daemon.control,
  };
}

/** vpcepd as a child process under `ulimit -n limit` */
async function lowLimitWorld(limit: number): Promise<World> {
  const backend = (await echoBackend()).port;
  const port = randomPort();
  const dir = tempDir();
  const config = writeConfig(dir, worldConfig({}, backend, null));
  const api = await freePort();
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `ulimit -n ${limit} && exec ${q(process.execPath)} ${q(path.join(ROOT, 'bin/vpcepd.js'))} --listen 127.0.0.1:${api} --config ${q(config)} --data-dir ${q(path.join(dir, 'data'))}`;
  const proc: ChildProcess = spawn('sh', ['-c', cmd], { env: { ...process.env, VPCEP_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b) => { out += b; });
  proc.stderr!.on('data', (b) => { out += b; });
  closers.push(() => new Promise<void>((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  }));
  const url = `http://127.0.0.1:${api}`;
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`vpcepd exited: ${out}`);
    try { return (await fetch(`${url}/`)).status === 200; } catch { return false; }
  }, 15_000, `vpcepd under ulimit -n ${limit}`);
  const consumer = new ApiClient(url, CONSUMER.token, CONSUMER.project_id);
  // the consumer's VPC is numbered as the config lists it: vpc-app 1, vpc-client 2, vpc-provider-client 3
  return { url, provider: new ApiClient(url, PROVIDER.token, PROVIDER.project_id), consumer, port, publicPort: 0, backend, k: 2, kOther: 3 };
}

/** the consumer's interface endpoint in vpc-client (subnet-a) on a provider's service of `w.port` */
async function endpoint(w: World, o: { approval?: boolean; whitelist?: string[]; backendPort?: number } = {}): Promise<any> {
  const svc = await w.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, approval_enabled: o.approval ?? false,
    ports: [{ client_port: w.port, server_port: o.backendPort ?? w.backend, protocol: 'TCP' }],
  });
  expect(svc.status, JSON.stringify(svc.body)).toBe(200);
  await waitFor(async () => (await w.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
  expect((await w.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  const created = await w.consumer.post('/vpc-endpoints', {
    endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a',
    ...(o.whitelist ? { enable_whitelist: true, whitelist: o.whitelist } : {}),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  const want = o.approval ? 'pendingAcceptance' : 'accepted';
  return waitFor(async () => {
    const r = await w.consumer.get(`/vpc-endpoints/${created.body.id}`);
    return r.body.status === want ? r.body : null;
  }, 5_000, `endpoint ${want}`);
}

/** 'relay' when bytes round-trip, 'reset' (ECONNRESET), 'connection_refused' (ECONNREFUSED), else how it ended */
function attempt(host: string, port: number, localAddress: string, localPort?: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress, ...(localPort === undefined ? {} : { localPort }) });
    const done = (r: string) => { s.destroy(); resolve(r); };
    s.on('connect', () => s.write('ping'));
    s.on('data', (b) => done(String(b) === 'ping' ? 'relay' : `got ${String(b)}`));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNRESET' ? 'reset' : e.code === 'ECONNREFUSED' ? 'connection_refused' : (e.code ?? e.message)));
    s.on('close', () => done('closed'));
  });
}

/** a connection relayed and held open until the test ends */
async function holdOpen(host: string, port: number, localAddress: string): Promise<void> {
  const s = net.connect({ host, port, localAddress });
  closers.push(() => { s.destroy(); });
  await new Promise<void>((resolve, reject) => {
    s.on('connect', () => s.write('x'));
    s.once('data', () => resolve());
    s.on('error', reject);
  });
}

/** every endpoint's rejected counters, by "endpoint reason" */
async function rejectedCounters(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of await scrapeMetrics(url)) {
    if (s.name === 'vpcep_endpoint_rejected_connections_total') out.set(`${s.labels.endpoint_id} ${s.labels.reason}`, s.value);
  }
  return out;
}

/** the counter labels that moved between two scrapes, each with how much */
function moved(before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([k, v]) => v !== (before.get(k) ?? 0)).map(([k, v]) => `${k} +${v - (before.get(k) ?? 0)}`);
}

interface Attempt {
  readonly api: ApiClient;
  readonly query: Record<string, unknown>;
  readonly host: string;
  readonly port: number;
  readonly localAddress: string;
  /** the client's source port (the trace's source_port); absent: an ephemeral one */
  readonly localPort?: number;
  /** whose rejected counters a refusal moves */
  readonly counted: string;
}

/**
 * an interface endpoint of the world's service in subnet 10.N.1.0/24 of a VPC 10.N.0.0/16 made
 * through the API (made by the control plane: ids of N), after SETUP has shaped the VPC and
 * subnet (groups, ACLs); the attempt from a client of that subnet
 */
async function endpointInApiVpc(
  w: World, n: number, setup: (c: ControlPlane, me: NonNullable<ReturnType<ControlPlane['accountByName']>>, vpcId: string, subnetId: string) => Promise<{ securityGroups?: string[] }>,
): Promise<(source: string, sourcePort?: number) => Attempt> {
  const c = w.control!;
  const me = c.accountByName('consumer')!;
  const service = (await endpoint(w)).endpoint_service_id as string;
  const id = (kind: string, last: number) => `${kind}-${String(n * 100 + last).padStart(17, '0')}`;
  const vpcId = id('vpc', 1);
  const subnetId = id('subnet', 1);
  await c.createVpc(me, { id: vpcId, mainRouteTableId: id('rtb', 1), defaultSecurityGroupId: id('sg', 0), cidr: `10.${n}.0.0/16` });
  await c.createSubnet(me, { id: subnetId, vpcId, cidr: `10.${n}.1.0/24`, zone: 'sim-1a' });
  const { securityGroups } = await setup(c, me, vpcId, subnetId);
  const made = await c.createEndpoint(me, { serviceId: service, vpcId, subnetId, ...(securityGroups ? { securityGroups } : {}) }, { requirePrincipal: false });
  const ep = await waitFor(() => { const e = c.ownEndpoint(me, made.id); return e.status === 'accepted' ? e : null; }, 5_000, 'endpoint accepted');
  const k = c.routing().vpcs.get(vpcId)!.number;
  return (source: string, sourcePort?: number): Attempt => ({
    api: w.consumer,
    query: { vpc_id: vpcId, source_ip: source, destination_ip: ep.ip, destination_port: w.port, ...(sourcePort === undefined ? {} : { source_port: sourcePort }) },
    host: ep.host_ip!, port: w.port, localAddress: `127.${k}.${source.split('.').slice(2).join('.')}`, localPort: sourcePort, counted: ep.id,
  });
}

/** traces, connects for real, and checks that the two agree; returns the trace */
async function agree(w: World, a: Attempt): Promise<any> {
  const r = await a.api.post('/trace', a.query);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const t = r.body.trace;
  const before = await rejectedCounters(w.url);
  const seen = await attempt(a.host, a.port, a.localAddress, a.localPort);
  // A refusal is counted when the data plane handled the connection (a reset); the kernel's refusal is not.
  const after = await waitFor(async () => {
    const m = await rejectedCounters(w.url);
    return t.outcome !== 'reset' || moved(before, m).length > 0 ? m : null;
  }, 2_000, 'the refusal counted');
  expect({ outcome: seen, counted: moved(before, after) }, JSON.stringify(t)).toEqual({
    outcome: t.outcome,
    counted: t.outcome === 'reset' ? [`${a.counted} ${t.refusal} +1`] : [],
  });
  expect(t.verdict).toBe(t.outcome === 'relay' ? 'relay' : 'refuse');
  return t;
}

const own = (w: World, ep: any, source = '10.0.1.50'): Attempt => ({
  api: w.consumer, query: { vpc_id: 'vpc-client', source_ip: source, destination_ip: ep.ip, destination_port: w.port },
  host: ep.host_ip, port: w.port, localAddress: `127.${w.k}.${source.split('.').slice(2).join('.')}`, counted: ep.id,
});

/** a world whose limit of one connection a held connection fills: the next one traced and tried */
async function pastOneHeld(o: WorldOptions): Promise<any> {
  const w = await inProcessWorld(o);
  const ep = await endpoint(w);
  await holdOpen(ep.host_ip, w.port, `127.${w.k}.1.9`);
  return agree(w, own(w, ep));
}

/** the consumer's gateway endpoint on the public service obs, routed from vpc-client's default table */
async function gatewayEndpoint(w: World, policy?: unknown[]): Promise<any> {
  const pub = (await w.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services.find((s: any) => s.service_name === 'sim-1.obs');
  const created = await w.consumer.post('/vpc-endpoints', { endpoint_service_id: pub.id, vpc_id: 'vpc-client', ...(policy ? { policy_statement: policy } : {}) });
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  return waitFor(async () => {
    const r = await w.consumer.get(`/vpc-endpoints/${created.body.id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'gateway endpoint accepted');
}

/** a client of vpc-client to the public service's 100.125.0.10 (host address 127.255.0.10) */
const viaGateway = (w: World, endpointId: string, source: string, port = w.publicPort): Attempt => ({
  api: w.consumer, query: { vpc_id: 'vpc-client', source_ip: source, destination_ip: '100.125.0.10', destination_port: port },
  host: '127.255.0.10', port, localAddress: `127.${w.k}.1.${source.split('.')[3]}`, counted: endpointId,
});

/**
 * One row per refusal reason the tracer predicts. Not in the table: the reasons only a live
 * connect knows (LIVE_ONLY_REFUSALS: backend_unreachable has its row below).
 */
const CASES: ReadonlyArray<{
  /** the refusal the case reaches; null: not refused by the data plane (relayed, or nothing listens) */
  readonly refusal: RefusalReason | null;
  readonly name: string;
  run(): Promise<any>;
}> = [
  {
    refusal: null,
    name: 'relayed through an interface endpoint',
    async run() {
      const w = await inProcessWorld();
      // Issue 11: tracing the endpoint's private IP from its own VPC said "local route: not a
      // public service" while a real client was relayed.
      const t = await agree(w, own(w, await endpoint(w)));
      expect(t).toMatchObject({ target_type: 'interface_endpoint', listener: { bound: true }, source: { proxy_v2: false } });
      return t;
    },
  },
  {
    refusal: 'zone_down',
    name: 'at an interface endpoint whose ENI\'s zone is taken down (a simulated outage), then relayed once it is back up',
    async run() {
      const w = await inProcessWorld();
      const ep = await endpoint(w);
      expect((await w.consumer.post('/sim/zones/sim-1a/down', undefined)).status).toBe(200);
      const t = await agree(w, own(w, ep));
      expect(t).toMatchObject({ eni: { zone: 'sim-1a', host_ip: ep.host_ip, zone_up: false }, listener: { bound: true } });
      expect((await w.consumer.post('/sim/zones/sim-1a/up', undefined)).status).toBe(200);
      expect(await agree(w, own(w, ep))).toMatchObject({ outcome: 'relay', eni: { zone: 'sim-1a', zone_up: true } });
      return t;
    },
  },
  {
    refusal: 'vpc',
    name: 'at an interface endpoint',
    async run() {
      const w = await inProcessWorld();
      const ep = await endpoint(w);
      // the provider's vpc-provider-client: the same CIDR, another VPC
      return agree(w, {
        api: w.provider, query: { vpc_id: 'vpc-provider-client', source_ip: '10.0.1.50', destination_ip: ep.host_ip, destination_port: w.port },
        host: ep.host_ip, port: w.port, localAddress: `127.${w.kOther}.1.50`, counted: ep.id,
      });
    },
  },
  {
    refusal: 'on_premises',
    name: 'at an interface endpoint',
    async run() {
      const w = await inProcessWorld({ dataplane: { on_premises: 'deny' } });
      const ep = await endpoint(w);
      return agree(w, {
        api: w.consumer, query: { source_ip: '127.0.0.1', destination_ip: ep.host_ip, destination_port: w.port },
        host: ep.host_ip, port: w.port, localAddress: '127.0.0.1', counted: ep.id,
      });
    },
  },
  {
    refusal: 'whitelist',
    name: 'at an interface endpoint',
    async run() {
      const w = await inProcessWorld();
      const ep = await endpoint(w, { whitelist: ['10.0.1.0/28'] });
      const allowed = await agree(w, own(w, ep, '10.0.1.5'));
      expect(allowed).toMatchObject({ outcome: 'relay', whitelist: { enabled: true, matched: '10.0.1.0/28' } });
      const refused = await agree(w, own(w, ep, '10.0.1.50'));
      // a whitelist change reaches the data plane before the API answers, and the trace reads it there
      expect((await w.consumer.put(`/vpc-endpoints/${ep.id}`, { whitelist: ['10.0.1.0/28', '10.0.1.50'] })).status).toBe(200);
      expect(await agree(w, own(w, ep, '10.0.1.50'))).toMatchObject({ outcome: 'relay', whitelist: { matched: '10.0.1.50/32' } });
      return refused;
    },
  },
  {
    refusal: 'security_group',
    name: 'at an interface endpoint in a VPC made through the API, whose security group admits 10.50.1.0/28 to its port',
    async run() {
      const w = await inProcessWorld();
      const from = await endpointInApiVpc(w, 50, async (c, me, vpcId) => {
        await c.createSecurityGroup(me, { id: 'sg-00000000000005001', vpcId, name: 'clients', description: 'x' });
        await c.changeSecurityGroupRules(me, 'sg-00000000000005001', 'ingress', 'authorize', [{ protocol: 'tcp', fromPort: w.port, toPort: w.port, cidr: '10.50.1.0/28' }]);
        return { securityGroups: ['sg-00000000000005001'] };
      });
      const rule = `tcp ${w.port} from 10.50.1.0/28`;
      expect(await agree(w, from('10.50.1.5'))).toMatchObject({ outcome: 'relay', security_group: { enforced: true, matched: rule } });
      const refused = await agree(w, from('10.50.1.50'));
      expect(refused.security_group).toMatchObject({ matched: null, rules: [rule] });
      // a client of another VPC never meets the groups: the step says so (it read the client's host
      // address and said no rule admits 10.50.1.5, which one does)
      const own = from('10.50.1.5');
      const kClient = w.control!.routing().vpcs.get('vpc-client')!.number;
      const elsewhere = await agree(w, {
        api: w.consumer, query: { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: own.host, destination_port: w.port },
        host: own.host, port: w.port, localAddress: `127.${kClient}.1.50`, counted: own.counted,
      });
      expect(elsewhere).toMatchObject({ outcome: 'reset', refusal: 'vpc', security_group: { matched: null, rule: 'not reached: isolation refuses the client before this step' } });
      return refused;
    },
  },
  {
    refusal: 'network_acl',
    name: 'at an interface endpoint in a subnet whose network ACL denies 10.51.1.48/28 (rule 50), then allows 10.51.1.0/24 to its port (rule 100); '
      + 'outbound denies 10.51.1.64/28 (rule 50), then allows 10.51.1.0/24 at ports 1024-65535 (rule 100)',
    async run() {
      const w = await inProcessWorld();
      const from = await endpointInApiVpc(w, 51, async (c, me, vpcId, subnetId) => {
        const acl = await c.createNetworkAcl(me, { id: 'acl-00000000000005101', vpcId });
        const entry = { egress: false, protocol: 'tcp', fromPort: w.port, toPort: w.port };
        await c.changeNetworkAclEntry(me, acl.id, { op: 'create', entry: { ...entry, ruleNumber: 50, action: 'deny', cidr: '10.51.1.48/28' } });
        await c.changeNetworkAclEntry(me, acl.id, { op: 'create', entry: { ...entry, ruleNumber: 100, action: 'allow', cidr: '10.51.1.0/24' } });
        const out = { egress: true, protocol: 'tcp', fromPort: 1024, toPort: 65535 };
        await c.changeNetworkAclEntry(me, acl.id, { op: 'create', entry: { ...out, ruleNumber: 50, action: 'deny', cidr: '10.51.1.64/28' } });
        await c.changeNetworkAclEntry(me, acl.id, { op: 'create', entry: { ...out, ruleNumber: 100, action: 'allow', cidr: '10.51.1.0/24' } });
        await c.associateNetworkAcl(me, subnetId, acl.id, { acl: defaultNetworkAclId(vpcId), id: 'its default association' });
        return {};
      });
      const allow = `allow tcp ${w.port} from 10.51.1.0/24`;
      const deny = `deny tcp ${w.port} from 10.51.1.48/28`;
      const allowOut = 'allow tcp 1024-65535 to 10.51.1.0/24';
      const denyOut = 'deny tcp 1024-65535 to 10.51.1.64/28';
      expect(await agree(w, from('10.51.1.5'))).toMatchObject({
        outcome: 'relay', network_acl: { enforced: true, matched: allow, rules: [deny, allow], egress_matched: allowOut, egress_rules: [denyOut, allowOut], source_port: 32768 },
      });
      expect(await agree(w, from('10.51.1.6', 40_123))).toMatchObject({ outcome: 'relay', network_acl: { egress_matched: allowOut, source_port: 40_123 } });
      // the answers: to an address outbound rule 50 denies, and to a source port below 1024 that no outbound rule holds
      const deniedOut = await agree(w, from('10.51.1.70'));
      expect(deniedOut).toMatchObject({ outcome: 'reset', refusal: 'network_acl', network_acl: { matched: allow, egress_matched: denyOut } });
      expect(deniedOut.reason).toContain(`outbound rule ${denyOut} decides for the answers to 10.51.1.70 at its ephemeral ports 32768-60999`);
      const lowPort = await agree(w, from('10.51.1.7', 1_011));
      expect(lowPort).toMatchObject({ outcome: 'reset', refusal: 'network_acl', network_acl: { matched: allow, egress_matched: null, source_port: 1_011 } });
      expect(lowPort.reason).toContain('no outbound rule holds the answers to 10.51.1.7 port 1011: the * rule denies');
      const refused = await agree(w, from('10.51.1.50'));
      expect(refused.network_acl).toMatchObject({ matched: deny });
      return refused;
    },
  },
  { refusal: 'cap', name: 'at an interface endpoint', run: () => pastOneHeld({ consumerQuotas: { connections_per_endpoint: 1 } }) },
  { refusal: 'daemon_limit', name: 'at an interface endpoint', run: () => pastOneHeld({ dataplane: { max_connections: 1 } }) },
  {
    refusal: 'snat_exhausted',
    name: 'at an interface endpoint whose SNAT address has 2 source ports (dataplane.snat_ports), both held',
    async run() {
      const w = await inProcessWorld({ dataplane: { snat_ports: '40100-40101' } });
      const ep = await endpoint(w);
      for (const host of [7, 8]) {
        expect((await w.consumer.post('/trace', own(w, ep).query)).body.trace.outcome).toBe('relay');
        await holdOpen(ep.host_ip, w.port, `127.${w.k}.1.${host}`);
      }
      const t = await agree(w, own(w, ep));
      expect(t.reason).toBe(`every SNAT source port of ${ep.snat_ip} is in use`);
      return t;
    },
  },
  {
    refusal: 'fd_limit',
    name: 'at an interface endpoint',
    async run() {
      const w = await lowLimitWorld(300);
      const ep = await endpoint(w);
      // Hold connections while the trace says there is room, each one agreeing; then the next is refused.
      for (let i = 0; i < 100; i++) {
        // the connection held last is counted once its relay thread reported it (the fast path), not at the handshake
        const t = await waitFor(async () => {
          const now = (await w.consumer.post('/trace', own(w, ep).query)).body.trace;
          return now.daemon.active === i ? now : null;
        }, 5_000, `the daemon counting ${i} connections`);
        if (t.refusal === 'fd_limit') {
          expect(t.daemon).toMatchObject({ active: i, fd_headroom_connections: 0 });
          break;
        }
        expect(t.outcome, JSON.stringify(t)).toBe('relay');
        await holdOpen(ep.host_ip, w.port, `127.${w.k}.2.${i + 1}`);
      }
      return agree(w, own(w, ep));
    },
  },
  {
    refusal: 'not_accepted',
    name: 'at an interface endpoint pendingAcceptance (nothing listens: the kernel refuses, nothing counted)',
    async run() {
      const w = await inProcessWorld();
      const ep = await endpoint(w, { approval: true });
      const t = await agree(w, own(w, ep));
      expect(t.listener).toMatchObject({ bound: false, why: `endpoint ${ep.id} is pendingAcceptance` });
      return t;
    },
  },
  {
    refusal: 'daemon_limit',
    name: 'past a gateway endpoint\'s route',
    async run() {
      const w = await inProcessWorld({ dataplane: { max_connections: 1 } });
      const ep = await gatewayEndpoint(w);
      await holdOpen('127.255.0.10', w.publicPort, `127.${w.k}.1.9`);
      return agree(w, viaGateway(w, ep.id, '10.0.1.50'));
    },
  },
  {
    refusal: null,
    name: 'nothing listens: no public service on the address and port (the kernel refuses, nothing counted)',
    async run() {
      const w = await inProcessWorld();
      const ep = await gatewayEndpoint(w);
      const t = await agree(w, viaGateway(w, ep.id, '10.0.1.50', w.publicPort + 1));
      expect(t).toMatchObject({ outcome: 'connection_refused', refusal: null, listener: { bound: false, why: 'no public service on that address and port' } });
      return t;
    },
  },
  {
    refusal: null,
    name: 'nothing listens: a host address of no endpoint, from on premises',
    async run() {
      const w = await inProcessWorld();
      await endpoint(w);
      const t = await agree(w, {
        api: w.consumer, query: { source_ip: '127.0.0.1', destination_ip: `127.${w.k}.1.99`, destination_port: w.port },
        host: `127.${w.k}.1.99`, port: w.port, localAddress: '127.0.0.1', counted: '',
      });
      expect(t).toMatchObject({ outcome: 'connection_refused', listener: { address: `127.${w.k}.1.99:${w.port}`, bound: false } });
      return t;
    },
  },
  {
    refusal: 'policy',
    name: 'at a gateway endpoint',
    async run() {
      const w = await inProcessWorld();
      const ep = await gatewayEndpoint(w, [{ Effect: 'Deny', Action: ['*'], Resource: ['*'], Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.1.50/32'] } } },
        { Effect: 'Allow', Action: ['*'], Resource: ['*'] }]);
      expect(await agree(w, viaGateway(w, ep.id, '10.0.1.51'))).toMatchObject({ outcome: 'relay', target_type: 'gateway_endpoint' });
      const t = await agree(w, viaGateway(w, ep.id, '10.0.1.50'));
      expect(t.policy).toMatchObject({ allowed: false });
      return t;
    },
  },
];

describe('the path tracer agrees with the data plane', () => {
  for (const c of CASES) {
    it(`${c.refusal ?? 'not refused'}, ${c.name}: the trace's verdict, outcome and refusal are what a real connection gets`, async () => {
      const t = await c.run();
      expect(t.refusal).toBe(c.refusal);
    }, 30_000);
  }

  it('every refusal reason is in the table or known only on connect', () => {
    const covered = new Set<string | null>([...CASES.map((c) => c.refusal), ...LIVE_ONLY_REFUSALS]);
    expect(REFUSAL_REASONS.filter((r) => !covered.has(r))).toEqual([]);
  });

  it('vpcep trace prints each step as text, and the same trace as JSON with --json', async () => {
    const w = await inProcessWorld();
    const ep = await endpoint(w, { whitelist: ['10.0.1.0/28'] });
    const cli = (...args: string[]) => new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), '--url', w.url, '--token', CONSUMER.token, '--project', CONSUMER.project_id,
        'trace', '--vpc-id', 'vpc-client', '--source', '10.0.1.5', '--destination', ep.ip, '--port', String(w.port), ...args], { timeout: 15_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    const text = await cli();
    for (const line of [
      `10.0.1.5 in vpc-client -> ${ep.ip}:${w.port}`,
      'isolation: client VPC vpc-client is the endpoint\'s VPC',
      `${ep.host_ip}:${w.port} bound`,
      'whitelist entry 10.0.1.0/28 holds 10.0.1.5',
      'an interface endpoint has no policy',
      '0 of 3000 (headroom 3000)',
      // the consumer's: the service and its port, not the provider's backend (the provider's own trace shows that)
      `${ep.endpoint_service_name}:${w.port}: a backend of service ${ep.endpoint_service_name}`,
      `${ep.id}`,
      `relay: relayed through interface endpoint ${ep.id}`,
      'backend_unreachable, backend_timeout, backend_error, error (known only when the connection is tried)',
    ]) expect(text).toContain(line);
    expect(text).not.toContain(`127.0.0.1:${w.backend}`);
    expect(text).toMatch(/daemon\s+.*0 of 1000000 connections \(headroom 1000000\); descriptors \d+ of \d+/);
    expect(text).toMatch(new RegExp(`backend sees\\s+.*${ep.snat_ip.replace(/\./g, '\\.')}|the daemon's own address`));
    const json = JSON.parse(await cli('--json'));
    expect(json.trace).toMatchObject({ target_type: 'interface_endpoint', verdict: 'relay', refusal: null, whitelist: { matched: '10.0.1.0/28' } });
  });

  it('a source outside the client\'s VPC is a bad request (400, EndPoint.0002), not a guess', async () => {
    const w = await inProcessWorld();
    const ep = await endpoint(w);
    const r = await w.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '192.168.1.50', destination_ip: ep.ip, destination_port: w.port });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body).toEqual({ error_code: 'EndPoint.0002', error_msg: 'source_ip: 192.168.1.50 is not an address of VPC vpc-client (10.0.0.0/16)' });
  });

  it('a listener that cannot bind: the trace says why (the data plane\'s answer), and the kernel refuses the connect as traced', async () => {
    const w = await inProcessWorld();
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(w.port, `127.${w.k}.1.77`, () => resolve());
    });
    closers.push(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const svc = await w.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: w.port, server_port: w.backend, protocol: 'TCP' }] });
    await waitFor(async () => (await w.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
    await w.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    const created = await w.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a', port_ip: '10.0.1.77' });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    await waitFor(async () => (await w.consumer.get(`/vpc-endpoints/${created.body.id}`)).body.status === 'failed', 5_000, 'endpoint failed');
    const r = await w.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: '10.0.1.77', destination_port: w.port });
    expect(r.body.trace).toMatchObject({
      endpoint: { id: created.body.id, status: 'failed' }, outcome: 'connection_refused', refusal: 'not_accepted', verdict: 'refuse',
      listener: { address: `127.${w.k}.1.77:${w.port}`, bound: false },
    });
    expect(r.body.trace.listener.why).toMatch(/is failed \(cannot listen on 127\.2\.1\.77:\d+: EADDRINUSE \(address in use: another process, or another vpcepd on this host or network namespace\)\)$/);
    // the squatter answers there, not the endpoint: stop it, and the kernel refuses as traced
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    expect(await attempt(`127.${w.k}.1.77`, w.port, `127.${w.k}.1.50`)).toBe('connection_refused');
  });

  it('backend_unreachable is known only on connect: the trace relays and says so; the connection is then reset, counted backend_unreachable', async () => {
    const w = await inProcessWorld();
    const dead = await freePort(); // nothing listens there
    const ep = await endpoint(w, { backendPort: dead });
    const t = (await w.consumer.post('/trace', own(w, ep).query)).body.trace;
    expect(t).toMatchObject({ verdict: 'relay', outcome: 'relay', refusal: null, backend: { target: `${ep.endpoint_service_name}:${w.port}` } });
    expect(t.live_only).toContain('backend_unreachable');
    const before = await rejectedCounters(w.url);
    expect(await attempt(ep.host_ip, w.port, `127.${w.k}.1.50`)).toMatch(/^(reset|closed)$/);
    await waitFor(async () => moved(before, await rejectedCounters(w.url)).join() === `${ep.id} backend_unreachable +1`, 2_000, 'backend_unreachable counted');
  });

  it('a consumer\'s trace shows no backend address of another account\'s service (its host, port, zone, the choice); the provider\'s own trace does', async () => {
    const w = await inProcessWorld();
    const ep = await endpoint(w);
    const consumer = await agree(w, own(w, ep));
    const svc = ep.endpoint_service_name;
    expect(consumer).toMatchObject({
      verdict: 'relay', service: { id: ep.endpoint_service_id, name: svc, target: `${svc}:${w.port}`, status: 'available' },
      backend: { target: `${svc}:${w.port}`, chosen_by: `a backend of service ${svc}, chosen by the service (its owner traces which one)` },
    });
    expect(consumer.backend).not.toHaveProperty('zone');
    expect(consumer.backend).not.toHaveProperty('reason');
    expect(JSON.stringify(consumer)).not.toContain(`127.0.0.1:${w.backend}`);
    expect(JSON.stringify(consumer)).not.toContain(`:${w.backend}`);
    // the provider's endpoint on its own service, in vpc-provider-client: the backend's address, its zone, the choice
    const created = await w.provider.post('/vpc-endpoints', { endpoint_service_id: ep.endpoint_service_id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const mine = await waitFor(async () => {
      const r = await w.provider.get(`/vpc-endpoints/${created.body.id}`);
      return r.body.status === 'accepted' ? r.body : null;
    }, 5_000, 'the provider\'s endpoint accepted');
    const provider = await agree(w, {
      api: w.provider, query: { vpc_id: 'vpc-provider-client', source_ip: '10.0.1.50', destination_ip: mine.ip, destination_port: w.port },
      host: mine.host_ip, port: w.port, localAddress: `127.${w.kOther}.1.50`, counted: mine.id,
    });
    expect(provider).toMatchObject({
      verdict: 'relay', service: { name: svc, target: `127.0.0.1:${w.backend}` },
      backend: { target: `127.0.0.1:${w.backend}`, zone: 'sim-1a', reason: expect.any(String) },
    });
  });
});
