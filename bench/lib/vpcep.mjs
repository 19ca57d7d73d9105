// vpcepd for the load benchmark: a generated config (one account, one VPC whose backend port
// targets 127.0.0.1), the daemon as a child process (node bin/vpcepd.js), and the few API calls the
// benchmark needs: a service (approval off) and endpoints, each awaited until accepted.
import fs from 'node:fs';
import path from 'node:path';
import { start, stop, sleep, tail } from './procs.mjs';
import { freePort } from './net.mjs';
import { rootDir } from './paths.mjs';

export const ACCOUNT = {
  name: 'bench',
  domain_id: 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0',
  project_id: 'be0c0be0c0be0c0be0c0be0c0be0c0b',
  token: 'bench-load-secret',
};
export const CAP = 3000;
/** reads every series of GET /metrics, the per-endpoint ones included */
export const METRICS_TOKEN = 'bench-metrics-secret-0123';
/** the simulated network: VPC 10.77.0.0/16 is the daemon's VPC number 1, so 10.77.1.x lives at 127.1.1.x */
const VPC = { id: 'vpc-bench', cidr: '10.77.0.0/16', subnet: 'subnet-bench', subnetCidr: '10.77.1.0/24', port: 'port-backend', portIp: '10.77.1.10' };

/** `subnetCidr`: a wider subnet than the /24 for more than ~250 endpoints (it must hold 10.77.1.10) */
/** `fleet`: the config's fleet section (e.g. `{ lease_ttl_seconds: 2 }`) */
export function daemonConfig({ snat, socketBuffer, endpoints, subnetCidr = VPC.subnetCidr, flowLogs, faults, fleet }) {
  return {
    region: 'sim-1',
    ...(fleet ? { fleet } : {}),
    ...(flowLogs ? { flow_logs: flowLogs } : {}),
    ...(faults ? { faults } : {}),
    metrics: { token: METRICS_TOKEN },
    dataplane: { snat, drain_timeout_ms: 500, idle_timeout_ms: 3_600_000, backend_connect_timeout_ms: 5_000, ...(socketBuffer === undefined ? {} : { socket_buffer_bytes: socketBuffer }) },
    accounts: [{ ...ACCOUNT, quotas: { endpoint_service: 5, endpoint: Math.max(10, endpoints), connections_per_endpoint: CAP } }],
    vpcs: [{
      id: VPC.id, account: ACCOUNT.name, cidr: VPC.cidr,
      subnets: [{ id: VPC.subnet, cidr: subnetCidr }],
      ports: [{ id: VPC.port, subnet: VPC.subnet, ip: VPC.portIp, type: 'VM', target: '127.0.0.1' }],
    }],
  };
}

/** node's flags for the vpcepd of checkout ROOT: those of its bin/vpcepd.js's first line (`#!/usr/bin/env -S node FLAGS`), README "Garbage collection on one thread"; a baseline checkout runs with its own */
export const daemonNodeFlags = (root = rootDir) => fs.readFileSync(path.join(root, 'bin/vpcepd.js'), 'utf8').split('\n')[0].replace(/^#!.*?\bnode\b/, '').trim().split(/\s+/).filter(Boolean);
export const DAEMON_NODE_FLAGS = daemonNodeFlags();

/** the built file the vpcepd of checkout ROOT runs: what its bin/vpcepd.js imports (dist/bundle/vpcepd.mjs; dist/vpcepd.js before the bundle) */
export function daemonEntry(root = rootDir) {
  const bin = path.join(root, 'bin/vpcepd.js');
  if (!fs.existsSync(bin)) return bin;
  const from = /from '([^']+)'/.exec(fs.readFileSync(bin, 'utf8'));
  return path.resolve(root, 'bin', from ? from[1] : '../dist/vpcepd.js');
}

export const VPC_ID = VPC.id;
export const SUBNET_ID = VPC.subnet;

export class Vpcepd {
  /** starts the daemon on a free API port; resolves once GET / answers 200 */
  /** `store`: --store (etcd://host:port/prefix; default the data dir's SQLite); `dnsPort`: --dns-listen 127.0.0.1:PORT (several daemons at once) */
  static async start({ root, dir, snat = 'auto', relay = 'js', socketBuffer = undefined, endpoints = 3, subnetCidr = undefined, flowLogs = undefined, faults = undefined, store = undefined, dnsPort = undefined, fleet = undefined }) {
    const configFile = path.join(dir, 'vpcepd.json');
    fs.writeFileSync(configFile, JSON.stringify(daemonConfig({ snat, socketBuffer, endpoints, subnetCidr, flowLogs, faults, fleet }), null, 2));
    const port = await freePort();
    const args = [
      path.join(root, 'bin/vpcepd.js'), '--config', configFile, '--data-dir', path.join(dir, 'vpcep-data'),
      '--listen', `127.0.0.1:${port}`, '--log-level', 'warn',
      ...(store ? ['--store', store] : []),
      ...(dnsPort ? ['--dns-listen', `127.0.0.1:${dnsPort}`] : []),
    ];
    // VPCEP_RELAY chooses the relay of a daemon that has more than the JavaScript one
    const env = { ...process.env, VPCEP_RELAY: relay };
    const d = new Vpcepd(args, env, `http://127.0.0.1:${port}`, path.join(dir, 'vpcepd.log'), daemonNodeFlags(root));
    await d.spawn();
    return d;
  }

  constructor(args, env, url, log, flags = DAEMON_NODE_FLAGS) {
    this.args = args;
    this.flags = flags;
    this.env = env;
    this.url = url;
    this.log = log;
    this.proc = null;
  }

  async spawn() {
    const proc = start('vpcepd', process.execPath, [...this.flags, ...this.args], { log: this.log, env: this.env });
    this.proc = proc;
    const until = Date.now() + 20_000;
    for (;;) {
      if (proc.gone) throw new Error(`vpcepd exited at start:\n${tail(this.log)}`);
      try {
        if ((await fetch(`${this.url}/`)).status === 200) return;
      } catch { /* not yet */ }
      if (Date.now() > until) throw new Error(`vpcepd did not answer on ${this.url} within 20 s:\n${tail(this.log)}`);
      await sleep(50);
    }
  }

  /**
   * SIGTERM, then the same daemon again on the same data dir and port: a fresh process whose
   * endpoints are restored from the store (they answer before GET / does). Resolves once every
   * endpoint in `ids` is accepted again.
   */
  async restart(ids) {
    await this.stop();
    await this.spawn();
    for (const id of ids) {
      await this.until(`endpoint ${id} accepted after the restart`, async () => (await this.api('GET', `/vpc-endpoints/${id}`)).status === 'accepted');
    }
  }

  get pid() {
    return this.proc.child.pid;
  }

  async api(method, p, body) {
    const res = await fetch(`${this.url}/v1/${ACCOUNT.project_id}${p}`, {
      method,
      headers: { 'x-auth-token': ACCOUNT.token, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    if (res.status >= 300) throw new Error(`vpcepd ${method} ${p}: ${res.status} ${text}`);
    return parsed;
  }

  /** a service on the VPC's backend port with these {client_port, server_port} mappings, approval off; awaits available */
  async createService(ports) {
    const s = await this.api('POST', '/vpc-endpoint-services', {
      port_id: VPC.port, vpc_id: VPC.id, server_type: 'VM', service_name: 'bench', approval_enabled: false,
      ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
    });
    return this.until(`service ${s.id} available`, async () => {
      const x = await this.api('GET', `/vpc-endpoint-services/${s.id}`);
      if (x.status === 'failed') throw new Error(`service failed: ${JSON.stringify(x)}`);
      return x.status === 'available' ? x : null;
    });
  }

  /** an endpoint of the service in the same VPC; awaits accepted (its listeners bound); `timed` gets the POST's ms */
  async createEndpoint(serviceId, timed = undefined) {
    const t0 = performance.now();
    const e = await this.api('POST', '/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: VPC.id, subnet_id: VPC.subnet });
    timed?.(performance.now() - t0);
    return this.until(`endpoint ${e.id} accepted`, async () => {
      const x = await this.api('GET', `/vpc-endpoints/${e.id}`);
      if (x.status === 'failed') throw new Error(`endpoint failed: ${JSON.stringify(x.error ?? x)}`);
      return x.status === 'accepted' ? x : null;
    });
  }

  async until(what, fn, ms = 10_000) {
    const limit = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > limit) throw new Error(`timed out waiting for ${what}`);
      await sleep(25);
    }
  }

  /** GET /metrics parsed into samples {name, labels, value} */
  async metrics() {
    const res = await fetch(`${this.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
    const out = [];
    for (const line of (await res.text()).split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
      out.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return out;
  }

  /** the figures of one endpoint: active, admitted so far, refusals by reason; and the daemon's active */
  async endpointFigures(id) {
    const m = await this.metrics();
    const one = (name, labels = {}) => m.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    const rejected = {};
    for (const s of m) if (s.name === 'vpcep_endpoint_rejected_connections_total' && s.labels.endpoint_id === id) rejected[s.labels.reason] = s.value;
    return {
      active: one('vpcep_endpoint_active_connections', { endpoint_id: id }) ?? 0,
      connections: one('vpcep_endpoint_connections_total', { endpoint_id: id }) ?? 0,
      rejected,
      daemonActive: one('vpcep_active_connections') ?? 0,
    };
  }

  /** refusals so far by reason, summed over every endpoint */
  async refusals() {
    const out = {};
    for (const s of await this.metrics()) {
      if (s.name === 'vpcep_endpoint_rejected_connections_total') out[s.labels.reason] = (out[s.labels.reason] ?? 0) + s.value;
    }
    return out;
  }

  /** which SNAT mode and relay the daemon runs (vpcep_dataplane_info) */
  async dataPlaneInfo() {
    const s = (await this.metrics()).find((x) => x.name === 'vpcep_dataplane_info');
    return s ? { snat_mode: s.labels.snat_mode, relay: s.labels.relay, relay_io: s.labels.relay_io ?? 'unknown' } : { snat_mode: 'unknown', relay: 'unknown', relay_io: 'unknown' };
  }

  /** connections open through the whole data plane (vpcep_active_connections) */
  async active() {
    return (await this.metrics()).find((s) => s.name === 'vpcep_active_connections')?.value ?? 0;
  }

  /** waits until the whole data plane holds no connection */
  async idle(ms = 15_000) {
    await this.until('the daemon to hold no connection', async () => (await this.active()) === 0, ms);
  }

  stop() {
    return stop(this.proc, 5_000);
  }
}
