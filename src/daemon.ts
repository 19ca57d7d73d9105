// Wiring only: config -> store -> inventory -> control plane -> data plane -> API and metrics.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { awsRegion } from './api/aws/ids.js';
import { awsNotificationMessage } from './api/aws/notification-message.js';
import { nameOfHuaweiCode } from './api/huawei/errors.js';
import { buildApi } from './api/http.js';
import { buildToxiproxyApi } from './api/toxiproxy/plugin.js';
import { claimDataDirStore, defaultToken, ensureDataDir, lockDataDir, nodeId } from './config/data-dir.js';
import { loadConfig } from './config/load.js';
import { fleetConfigDigest } from './config/fleet-digest.js';
import { configChanges, RELOADABLE } from './config/reload.js';
import { configView } from './config/effective.js';
import { ControlPlane } from './control/control-plane.js';
import { checkDocuments, upgradeDocuments } from './control/documents.js';
import { FAILURE_SWITCHES, FAULTS_DOCUMENT, PROVISIONING_DELAY } from './control/state.js';
import { DnsServer } from './dns/server.js';
import { Views, type DnsSource } from './dns/views.js';
import { zoneInRegion } from './model/zones.js';
import { applyInventory, storeInventory } from './control/inventory.js';
import { ConfigError, sameListen, type Config } from './model/config.js';
import { DEFAULTS } from './model/defaults.js';
import type { PublishedRecord } from './model/dns-names.js';
import type { PublishedTargetHealth } from './model/health.js';
import type { ConnectionNotification } from './model/notifications.js';
import type { InjectedFaults } from './model/toxics.js';
import { shaping } from './dataplane/bandwidth.js';
import { TcpDataPlane } from './dataplane/data-plane.js';
import { fdReserveFor } from './dataplane/fd-limit.js';
import { activeRelay, onRelayFatal, releaseMemory, selectRelay } from './dataplane/native-relay.js';
import { releaseMemoryWhenQuiet } from './memory-release.js';
import { setupSnat, type SnatSetup } from './dataplane/snat-mode.js';
import { ENDPOINT_STATUSES, SERVICE_STATUSES, type Endpoint, type EndpointService, type InternetGateway, type NetworkAcl, type Route, type SecurityGroup, type Vpc } from './model/types.js';
import { WebhookNotifier } from './notify/webhooks.js';
import type { LoadBalancer, TargetGroup } from './model/load-balancers.js';
import { DB_FILE, SqliteStore } from './store/sqlite.js';
import { storeSpecText, type StoreSpec } from './model/store-spec.js';
import { SoloFleet, type Fleet } from './store/fleet.js';
import type { Store } from './store/store.js';
import type { PlacementLoop } from './control/placement.js';
import type { Logger } from './telemetry/logger.js';
import { ListenError } from './net/listen-error.js';
import { version } from './version.js';
import { openFlowLog, type FlowLog } from './telemetry/flow-log.js';
import { createMetrics } from './telemetry/metrics.js';
import type { EndpointInfo } from './telemetry/metric-table.js';

export interface DaemonOptions {
  readonly configFile?: string;
  readonly dataDir: string;
  /** the store (--store); overrides the config file's `store` */
  readonly store?: StoreSpec;
  /** HOST:PORT; overrides the config file's listen */
  readonly listen?: { host: string; port: number };
  /** HOST:PORT; overrides the config file's dns.listen (tests: port 0) */
  readonly dnsListen?: { host: string; port: number };
  /** HOST:PORT; overrides the config file's faults.listen (tests: port 0) */
  readonly faultsListen?: { host: string; port: number };
  /** the resolvers dns.forward sends to (HOST or HOST:PORT); default the host's (tests inject their own) */
  readonly dnsUpstreams?: readonly string[];
  /** this node's name in a fleet (--node-name); overrides the config's fleet.node_name */
  readonly nodeName?: string;
  /** the default account's token (VPCEP_TOKEN) */
  readonly token?: string;
  readonly log: Logger;
  /** runs FN every MS and returns its cancel (tests inject their own; default setInterval, unref'd) */
  readonly every?: (ms: number, fn: () => void) => () => void;
  /** the clock of the API's back-off and /metrics cache (ms); tests drive it */
  readonly now?: () => number;
  /** the data plane's clock and sweep interval (tests: a fake clock, sweepIntervalMs 0, dataPlane.sweep()) */
  readonly dataPlaneClock?: { readonly now?: () => number; readonly sweepIntervalMs?: number };
}

/** the DNS server's descriptors besides its TCP connections: the UDP socket, the TCP listener, the upstream socket */
const DNS_OWN_FDS = 3;

/** how V8 collects garbage in this process: `single-threaded` when node was started with --single-threaded-gc (bin/vpcepd.js's first line) */
function gcMode(execArgv: readonly string[]): 'single-threaded' | 'parallel' {
  return execArgv.some((a) => /^--single[-_]threaded[-_]gc$/.test(a)) ? 'single-threaded' : 'parallel';
}

function every(ms: number, fn: () => void): () => void {
  const t = setInterval(fn, ms);
  t.unref();
  return () => clearInterval(t);
}

/** ready once start-up is complete; draining from the stop on (readiness 503, writes refused, reads and /metrics up) */
export type DaemonPhase = 'starting' | 'ready' | 'draining';

export interface Daemon {
  readonly address: { host: string; port: number };
  readonly control: ControlPlane;
  /** the running config (a reload may change its reloadable keys) */
  readonly config: Config;
  readonly dataPlane: TcpDataPlane;
  /** the DNS server's address (UDP and TCP), or null with dns.enabled: false */
  readonly dnsAddress: { host: string; port: number } | null;
  /** Toxiproxy's API's address, or null with faults.enabled: false */
  readonly faultsAddress: { host: string; port: number } | null;
  readonly phase: DaemonPhase;
  /**
   * re-reads the config file (SIGHUP) and applies the keys of RELOADABLE; a file that is bad, or
   * that changes anything else, throws ConfigError and changes nothing
   */
  reload(): string[];
  /** drains the data plane (up to the timeout) while reads and /metrics still answer, then stops the API and closes the store */
  stop(drainTimeoutMs?: number): Promise<void>;
}

/** the setting each listening address comes from: a flag or its variable, else the config's key */
const apiSetting = (o: DaemonOptions) => (o.listen ? 'listen (flag --listen, env VPCEP_LISTEN)' : 'listen');

/**
 * The API, DNS over TCP and Toxiproxy's API each need a port: two on one address, as flags or
 * variables made them, are refused naming both (the config alone is checked where it is read).
 * Found at bind, it was an EADDRINUSE that blamed another process.
 */
function checkOwnAddresses(config: Config, o: DaemonOptions): void {
  const own = [
    { setting: apiSetting(o), what: 'the API', at: o.listen ?? config.listen, on: true },
    { setting: o.dnsListen ? 'dns.listen (flag --dns-listen, env VPCEP_DNS_LISTEN)' : 'dns.listen', what: 'DNS', at: o.dnsListen ?? config.dns.listen, on: config.dns.enabled },
    { setting: 'faults.listen', what: 'Toxiproxy\'s API', at: o.faultsListen ?? config.faults.listen, on: config.faults.enabled },
  ].filter((x) => x.on);
  for (const [i, a] of own.entries()) {
    const b = own.slice(i + 1).find((x) => sameListen(x.at, a.at));
    if (b) {
      throw new ConfigError('listen addresses', [`${b.setting} ${b.at.host}:${b.at.port} is also ${a.setting}, ${a.what}'s: ${a.what} and ${b.what} each need a port of their own`]);
    }
  }
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const { log } = o;
  let config = loadConfig(o.configFile);
  checkOwnAddresses(config, o);
  let store: Store | undefined;
  let app: FastifyInstance | undefined;
  let snat: SnatSetup | undefined;
  let unlockDataDir: (() => void) | undefined;
  let dataPlaneToClose: TcpDataPlane | undefined;
  let stopConverging: (() => void) | undefined;
  let flowLog: FlowLog | null = null;
  let notifier: WebhookNotifier | undefined;
  let dns: DnsServer | undefined;
  let faultsApp: FastifyInstance | undefined;
  let fleet: Fleet | undefined;
  let placement: PlacementLoop | null = null;
  let stopPublishing: (() => void) | undefined;
  let stopPublishingHealth: (() => void) | undefined;
  let stopReleasing: (() => void) | undefined;
  // where a start's time goes (issue 16: a restart at 5,000 endpoints), logged once ready
  const took: Record<string, number> = {};
  let lapAt = performance.now();
  const lap = (phase: string) => {
    const t = performance.now();
    took[phase] = Math.round((t - lapAt) * 10) / 10;
    lapAt = t;
  };
  try {
    ensureDataDir(o.dataDir);
    unlockDataDir = lockDataDir(o.dataDir);
    const token = config.accounts.length ? '' : defaultToken(o.dataDir, o.token, log);
    // as an account's token in the config (model/config.ts): the metrics token reads every tenant's series
    if (token && config.metrics.token === token) {
      throw new ConfigError(o.configFile ?? 'embedded defaults', ["metrics.token: the same token as the default account's (VPCEP_TOKEN or <data-dir>/token)"]);
    }
    const spec = o.store ?? config.store;
    claimDataDirStore(o.dataDir, storeSpecText(spec), fs.existsSync(path.join(o.dataDir, DB_FILE)));
    const etcdStore = spec.kind === 'etcd'
      // loaded only for etcd: its gRPC client costs every start a quarter of a second of CPU (issue 16)
      ? await (await import('./store/etcd.js')).EtcdStore.open({ endpoints: spec.endpoints, prefix: spec.prefix })
      : undefined;
    store = etcdStore ?? SqliteStore.open(o.dataDir, { durability: config.storeDurability });
    // the nodes sharing the store (README "Fleet"): leases and election on etcd, this node alone on SQLite
    // (which keeps its data dir as it was: no node id file)
    const selfId = etcdStore ? nodeId(o.dataDir) : 'local';
    fleet = etcdStore ? etcdStore.fleet(config.fleet.leaseTtlS, log) : new SoloFleet();
    const openFleet = fleet;
    const metrics = createMetrics({ version: version() });
    store.observe?.(metrics.store);
    log.info({ store: store.location, ...(etcdStore ? {} : { durability: config.storeDurability }) }, `store: ${spec.kind === 'etcd' ? 'etcd' : 'SQLite'} at ${store.location}`);
    lap('store_open_ms');
    const openedStore = store;
    // the start-up ids are compare-and-swap documents: two daemons starting at once keep one set of ids
    const { inventory, snapshot: loaded } = await storeInventory(store, (snap) => {
      checkDocuments(snap.documents, openedStore.location);
      return applyInventory(config, snap.documents, { defaultToken: token, source: o.configFile ?? 'embedded defaults', now: new Date().toISOString() });
    });
    // documents of a vpcepd before issue 12 hold Huawei codes for a resource's error: read back to names
    // and subnets made through the EC2 API before issue 13 kept AWS's zone name: the config's zone of that letter
    const after = upgradeDocuments(loaded.documents, nameOfHuaweiCode, (aws) => {
      const zone = zoneInRegion(aws, awsRegion(config.region), config.region);
      return config.zones.includes(zone) ? zone : undefined;
    });

    lap('inventory_ms');
    snat = await setupSnat(config.dataplane.snat);
    const relay = selectRelay();
    log.info({ snat_mode: snat.mode, why: snat.why }, `data plane: SNAT mode ${snat.mode}`);
    log.info({ relay: relay.relay, relay_io: relay.io ?? 'none', why: relay.why }, `data plane: ${relay.relay === 'native' ? 'native splice relay' : 'JavaScript relay'}`);
    const gc = gcMode(process.execArgv);
    if (gc === 'parallel' && relay.relay === 'native') log.warn({ gc }, "garbage collection on V8's helper threads, which take the cores from the relay threads in bursts (the latency tail): start vpcepd with node --single-threaded-gc, as bin/vpcepd.js and npm start do");
    else log.info({ gc }, `garbage collection: ${gc === 'single-threaded' ? 'on the JavaScript thread alone' : "on V8's helper threads"}`);
    const dataPlaneNow = o.dataPlaneClock?.now ?? (() => performance.now());
    flowLog = await openFlowLog(config.flowLogs, o.dataDir, log, dataPlaneNow);
    const openFlow = flowLog;
    if (openFlow) metrics.setFlowLogSource(() => ({ records: openFlow.records, dropped: openFlow.dropped }));
    const dataPlane = new TcpDataPlane({
      snatMode: snat.mode,
      connectTimeoutMs: config.dataplane.backendConnectTimeoutMs,
      idleTimeoutMs: config.dataplane.idleTimeoutMs,
      maxConnections: config.dataplane.maxConnections,
      onPremises: config.dataplane.onPremises,
      socketBufferBytes: config.dataplane.socketBufferBytes,
      snatPorts: config.dataplane.snatPorts,
      // the reserve covers every socket the API, Toxiproxy's API (held to the same limits), the
      // DNS server and the notifications' webhooks may hold, so a flood of any cannot take the data plane's
      fdReserve: fdReserveFor(config.api.maxConnections * (config.faults.enabled ? 2 : 1)
        + (config.dns.enabled ? DEFAULTS.dns.tcpMaxConnections + DNS_OWN_FDS : 0)
        + new Set(config.aws.snsTopics.map((t) => t.url)).size * DEFAULTS.notifications.maxAttemptsPerWebhook),
      // the config's VPCs and those made through the API; later ones arrive with the routing view
      vpcs: [...inventory.vpcs, ...(after.get('apivpc')!.values() as Iterable<Vpc>)],
      log,
      observeConnect: (id, s) => metrics.observeConnect(id, s),
      observeHealthProbe: (result, seconds) => metrics.observeHealthProbe(result, seconds),
      forget: (id) => metrics.forgetEndpoint(id),
      // only an injected clock (tests) is passed on: with it the event loop's sweep times every
      // connection, without it the relay threads time their own. The real one passed too kept the
      // threads' timeouts off in every daemon since they were written
      now: o.dataPlaneClock?.now,
      flowLog,
      sweepIntervalMs: o.dataPlaneClock?.sweepIntervalMs,
    });
    dataPlaneToClose = dataPlane;
    const native = activeRelay();
    onRelayFatal((cause) => {
      // EX_SOFTWARE: a relay thread is gone and its connections with it; a supervisor restarts us.
      log.fatal({ cause }, `data plane: ${cause}: vpcepd stops`);
      process.exit(70);
    });
    metrics.setDataPlaneSource(() => ({ active: dataPlane.activeConnections, endpoints: dataPlane.stats(), backends: dataPlane.backends(), choices: dataPlane.choices, backendZoneConnections: dataPlane.backendZoneConnections, routeDecisions: dataPlane.routeDecisions, internet: dataPlane.internet, totals: dataPlane.totals, relay: native?.figures() }), { snat_mode: snat.mode, relay: relay.relay, relay_io: relay.io ?? 'none' });
    const control = new ControlPlane({
      region: config.region,
      store,
      dataPlane,
      inventory,
      services: after.get('service')!.values() as Iterable<EndpointService>,
      endpoints: after.get('endpoint')!.values() as Iterable<Endpoint>,
      userRoutes: after.get('routetable')!.values() as Iterable<{ id: string; routes: Route[] }>,
      notifications: after.get('notification')!.values() as Iterable<ConnectionNotification>,
      notificationTopics: new Map(config.aws.snsTopics.map((t) => [t.arn, new Set(t.accounts)])),
      loadBalancers: after.get('loadbalancer')!.values() as Iterable<LoadBalancer>,
      targetGroups: after.get('targetgroup')!.values() as Iterable<TargetGroup>,
      apiVpcs: after.get('apivpc')!.values() as Iterable<Vpc>,
      securityGroups: after.get('securitygroup')!.values() as Iterable<SecurityGroup>,
      internetGateways: after.get('internetgateway')!.values() as Iterable<InternetGateway>,
      networkAcls: after.get('networkacl')!.values() as Iterable<NetworkAcl>,
      publishedRecords: after.get('dnsrecord')!.entries() as Iterable<[string, PublishedRecord]>,
      fleetHealth: after.get('targethealth')!.values() as Iterable<PublishedTargetHealth>,
      log,
      onPremises: config.dataplane.onPremises,
      zones: config.zones,
      zonesDown: Object.keys((after.get('meta')!.get('zones_down') as Record<string, number> | undefined) ?? {}),
      deregistrationDelayS: config.dataplane.deregistrationDelayS,
      healthCheck: config.dataplane.healthCheck,
      publicRecords: config.dns.publicRecords,
      // the delay set through the API is stored, and outlives the config's
      provisioningDelayMs: (after.get('meta')!.get(PROVISIONING_DELAY) as { ms: number } | undefined)?.ms ?? config.faults.provisioningDelayMs,
      // the toxics and proxies taken down through Toxiproxy's API, as stored (faults.ts)
      injectedFaults: after.get('fault')!.get(FAULTS_DOCUMENT) as InjectedFaults | undefined,
      failureSwitches: {
        endpoint: after.get('meta')!.get(FAILURE_SWITCHES.endpoint) as Record<string, string> | undefined,
        service: after.get('meta')!.get(FAILURE_SWITCHES.service) as Record<string, string> | undefined,
      },
      stored: { versions: loaded.versions, claims: after.get('claim')!, revision: loaded.revision },
      ...(spec.kind === 'etcd' ? { nodeId: selfId } : {}),
      fleet,
      unhealthyTermination: config.dataplane.unhealthyTermination,
      storeObserver: metrics.store,
    });
    lap('data_plane_and_state_ms');
    if (control.awsMode === 'closed') {
      log.warn({ accounts: config.accounts.map((a) => a.name) }, 'aws: several accounts and no AWS access key: the AWS API refuses every request until each account has accounts[].aws keys');
    }
    const awsNames = { region: awsRegion(config.region), awsIdOf: (account: string) => control.awsIdOf(account) };
    const openNotifier = new WebhookNotifier({
      topics: new Map(config.aws.snsTopics.map((t) => [t.arn, t.url])),
      notifications: () => control.allNotifications(),
      mayPublish: (n) => control.notificationMayPublish(n),
      render: (n, e) => awsNotificationMessage(n, e, awsNames),
      log,
    });
    notifier = openNotifier;
    control.onConnectionEvent((e) => openNotifier.handle(e));
    metrics.setNotificationSource(() => ({ delivered: openNotifier.delivered, failed: openNotifier.failed, retries: openNotifier.retries }));
    await control.reconcile();
    lap('restore_ms');
    // a shared store: other daemons' writes reach this one's state (and its endpoints' data plane)
    const follower = spec.kind === 'etcd' ? control.followStore(store) : undefined;
    let converging = false;
    stopConverging = (o.every ?? every)(DEFAULTS.control.reconcileIntervalMs, () => {
      if (converging) return;
      converging = true;
      void control.converge().finally(() => { converging = false; });
    });

    // an endpoint's record is replaced on every change: its info is made again only then (a scrape
    // reuses the others', and writes their lines as it last did: src/telemetry/endpoint-series.ts)
    const infoOf = new WeakMap<Endpoint, EndpointInfo>();
    metrics.setEndpointSource(function* () {
      for (const e of control.allEndpoints()) {
        const projectId = control.accountByName(e.owner)?.project_id ?? '';
        let info = infoOf.get(e);
        if (info === undefined || info.project_id !== projectId) {
          info = {
            endpoint_id: e.id, service_id: e.service_id, service_name: e.service_name, vpc_id: e.vpc_id,
            account: e.owner, project_id: projectId,
            ip: e.ip ?? '', host_ip: e.host_ip ?? '', snat_ip: e.snat_ip ?? '', zone: e.enis.map((n) => n.zone).join(','),
          };
          infoOf.set(e, info);
        }
        yield info;
      }
    });
    metrics.setToxicSource(() => ({ active: dataPlane.faults.active(), ...dataPlane.faults.figures }));
    metrics.setHealthSource(() => dataPlane.healthFigures() ?? { probes: {}, targets: {} });
    metrics.setShapingSource(() => ({
      limited: shaping.limitedConnections,
      throttledSeconds: shaping.jsThrottledMs / 1000 + (native?.figures().throttledSeconds ?? 0),
      faults: control.faultsInjected,
    }));
    metrics.setZoneSource(() => control.zoneStates().map((z) => ({ ...z, connections: dataPlane.zoneConnections.get(z.zone) ?? 0 })));
    metrics.setStatusSource(() => {
      const services = Object.fromEntries(SERVICE_STATUSES.map((s) => [s, 0]));
      const endpoints = Object.fromEntries(ENDPOINT_STATUSES.map((s) => [s, 0]));
      for (const s of control.allServices()) services[s.status]!++;
      for (const e of control.allEndpoints()) endpoints[e.status]!++;
      return { services, endpoints };
    });

    if (config.dns.enabled) {
      const D = DEFAULTS.dns;
      let healthRevision = 0;
      dataPlane.onHealthChange(() => { healthRevision++; });
      const source: DnsSource = {
        get revision() { return control.revision; },
        get healthRevision() { return healthRevision; },
        allEndpoints: () => control.allEndpoints(),
        allServices: () => control.allServices(),
        endpointZones: (e: Endpoint) => control.endpointZones(e),
        zoneDown: (zone: string) => control.zoneDown(zone),
        vpcNumbers: () => control.routing().vpcByNumber.keys(),
        endpointBackends: (e: Endpoint) => control.endpointBackends(e),
        // this node's probes, else the fleet's (a target only another node probes)
        health: { state: (k) => control.targetProbe(k)?.state ?? 'initial', reason: (k) => control.targetProbe(k)?.reason ?? null },
        clientZone: (host) => control.zoneOfHost(host),
        publicRecords: () => control.publicRecords(),
      };
      const failOpen = (ids: readonly string[]) => {
        if (ids.length) log.warn({ endpoints: ids }, 'dns: no ENI of these endpoints has a healthy backend: their names answer every ENI (fail open)');
        else log.info({}, 'dns: every endpoint has an ENI with a healthy backend again');
      };
      dns = await DnsServer.start({
        listen: o.dnsListen ?? config.dns.listen, ttlS: config.dns.ttlS, forward: config.dns.forward, upstreams: o.dnsUpstreams ?? config.dns.forwarders,
        forwardTimeoutMs: D.forwardTimeoutMs, tcpIdleTimeoutMs: D.tcpIdleTimeoutMs, tcpMaxConnections: D.tcpMaxConnections,
        views: new Views(source, config.region, D.maxAddresses, failOpen), log,
      });
      const openDns = dns;
      metrics.setDnsSource(() => openDns.queryCounts());
      log.info({ dns: `${dns.address.host}:${dns.address.port}`, forward: config.dns.forward }, 'dns: answering endpoint and service names (UDP and TCP)');
    }

    let phase: DaemonPhase = 'starting';
    const listen = o.listen ?? config.listen;
    const nodeName = o.nodeName ?? config.fleet.nodeName ?? `${os.hostname()}-${selfId}`;
    app = buildApi({
      control,
      metrics,
      log,
      bodyLimitBytes: DEFAULTS.api.bodyLimitBytes,
      limits: config.api,
      metricsToken: () => config.metrics.token,
      now: o.now,
      // the values in effect: the flags', the node's name, the provisioning delay as stored (PUT /sim/faults)
      effectiveConfig: (caller) => configView({
        ...config,
        listen,
        store: spec,
        dns: { ...config.dns, listen: o.dnsListen ?? config.dns.listen, ...(o.dnsUpstreams ? { forwarders: o.dnsUpstreams } : {}) },
        faults: { ...config.faults, listen: o.faultsListen ?? config.faults.listen, provisioningDelayMs: control.provisioningFaults(caller).provisioning_delay_ms },
        fleet: { ...config.fleet, nodeName },
      }, { account: caller, vpcs: inventory.vpcs.filter((v) => v.account === caller.name).map((v) => v.id) }),
      phase: () => phase,
    });
    try {
      await app.listen({ host: listen.host, port: listen.port });
    } catch (err) {
      throw new ListenError(err, listen.host, listen.port, apiSetting(o), 'the API');
    }
    const addr = app.server.address();
    const address = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : listen;
    // registered once the API answers: a node's record names where it answers
    const startedAt = new Date().toISOString();
    await openFleet.start({
      id: selfId, name: nodeName, api: `${address.host}:${address.port}`,
      started_at: startedAt, registered_at: startedAt, connections: 0, config: fleetConfigDigest(config),
    });
    stopPublishing = (o.every ?? every)(DEFAULTS.fleet.publishIntervalMs, () => openFleet.publish(dataPlane.activeConnections));
    if (etcdStore) {
      placement = control.startPlacement(DEFAULTS.fleet.placementIntervalMs);
      // each node probes the backends of the endpoints it serves: the others answer their health from what it publishes
      stopPublishingHealth = (o.every ?? every)(DEFAULTS.fleet.healthPublishIntervalMs, () => void control.publishTargetHealth());
    }
    metrics.setFleetSource(() => control.nodes());
    // the start's own garbage (the modules, the restore) is the first burst given back
    const releaseLogged = (rss: number): boolean => {
      const released = releaseMemory();
      if (released) log.debug({ rss_mib: Math.round(rss / 2 ** 20) }, 'quiet after a burst: memory given back (GC, malloc_trim)');
      return released;
    };
    stopReleasing = releaseMemoryWhenQuiet({ release: releaseLogged, every: o.every ?? every, relayTurns: () => activeRelay()?.busyTurns() ?? 0 });
    // Toxiproxy's API before the ready line: a port it cannot bind stops the start, never after `vpcepd ready`
    let faultsAddress: { host: string; port: number } | null = null;
    if (config.faults.enabled) {
      const at = o.faultsListen ?? config.faults.listen;
      faultsApp = buildToxiproxyApi({
        control, version: version(), bodyLimitBytes: DEFAULTS.api.bodyLimitBytes, limits: config.api, log, refused: (reason) => metrics.apiRefused.inc({ reason }),
      });
      try {
        await faultsApp.listen({ host: at.host, port: at.port });
      } catch (err) {
        throw new ListenError(err, at.host, at.port, 'faults.listen', 'Toxiproxy\'s API');
      }
      const fa = faultsApp.server.address();
      faultsAddress = typeof fa === 'object' && fa ? { host: fa.address, port: fa.port } : at;
      log.info({ faults: `${faultsAddress.host}:${faultsAddress.port}` }, 'faults: Toxiproxy\'s API answering (every endpoint listener a proxy)');
    }

    phase = 'ready';
    lap('api_ms');
    log.info({ ...took, endpoints: control.endpointCount }, 'start-up: where the time went');
    log.info({
      pid: process.pid, listen: `${address.host}:${address.port}`, data_dir: o.dataDir, config: o.configFile ?? 'embedded defaults',
      accounts: inventory.accounts.map((a) => ({ name: a.name, project_id: a.project_id, domain_id: a.domain_id, aws_account_id: a.aws_account_id })),
    }, 'vpcepd ready');
    // Test hook (test/integration/native-hardening.test.ts): a relay thread dies now.
    if (process.env.VPCEP_RELAY_TEST_FAULT === 'thread') native?.testHooks.testBreakThread();

    const openStore = store;
    const openApp = app;
    const openFaults = faultsApp;
    const openDns = dns;
    const openSnat = snat;
    const openUnlock = unlockDataDir;
    const configFile = o.configFile;
    return {
      address,
      control,
      get config() { return config; },
      dataPlane,
      dnsAddress: openDns ? openDns.address : null,
      faultsAddress,
      get phase() { return phase; },
      reload() {
        if (configFile === undefined) throw new ConfigError('embedded defaults', ['no config file to reload (vpcepd runs without --config)']);
        const next = loadConfig(configFile);
        const { reloadable, restart } = configChanges(config, next, o.listen ? ['listen'] : []);
        if (restart.length) throw new ConfigError(configFile, restart.map((k) => `${k}: changed, but only a restart applies it (a reload applies ${RELOADABLE.join(', ')})`));
        config = { ...config, metrics: next.metrics, dataplane: { ...config.dataplane, drainTimeoutMs: next.dataplane.drainTimeoutMs } };
        return reloadable;
      },
      async stop(drainTimeoutMs) {
        phase = 'draining';
        stopConverging?.();
        const timeoutMs = drainTimeoutMs ?? config.dataplane.drainTimeoutMs;
        log.info({ active: dataPlane.activeConnections, drain_timeout_ms: timeoutMs }, 'draining: readiness answers 503, writes are refused; reads and /metrics answer until the end');
        const draining = dataPlane.drain(timeoutMs);
        // its listeners are closed: the fleet places this node's ENIs on the others now, while its
        // connections drain here (it stops following the store first, so that no move cuts them)
        stopPublishing?.();
        stopPublishingHealth?.();
        stopReleasing?.();
        await placement?.stop();
        await control.withdrawPublished();
        await follower?.stop();
        await openFleet.close();
        const d = await draining;
        log.info(d, 'data plane drained');
        await openFlow?.close();
        await control.settle({ final: true });
        await openNotifier.close();
        await openDns?.close();
        await openFaults?.close();
        await openApp.close();
        await openStore.close();
        await openSnat.teardown();
        openUnlock();
      },
    };
  } catch (err) {
    stopConverging?.();
    stopPublishing?.();
    stopPublishingHealth?.();
    stopReleasing?.();
    await placement?.stop();
    await fleet?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await faultsApp?.close().catch(() => undefined);
    dataPlaneToClose?.close();
    await flowLog?.close();
    await notifier?.close();
    await dns?.close();
    await store?.close().catch(() => undefined);
    await snat?.teardown().catch(() => undefined);
    unlockDataDir?.();
    throw err;
  }
}
