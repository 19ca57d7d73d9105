// Wiring only: config -> store -> inventory -> control plane -> data plane -> API and metrics.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApi } from './api/server.js';
import { loadConfig } from './config/load.js';
import { ControlPlane } from './control/control-plane.js';
import { applyInventory } from './control/inventory.js';
import type { Config } from './model/config.js';
import { DEFAULTS } from './model/defaults.js';
import { TcpDataPlane } from './dataplane/data-plane.js';
import { activeRelay, onRelayFatal, selectRelay } from './dataplane/native-relay.js';
import { setupSnat, type SnatSetup } from './dataplane/snat-mode.js';
import { ENDPOINT_STATUSES, SERVICE_STATUSES, type Endpoint, type EndpointService, type Route } from './model/types.js';
import { SqliteStore } from './store/sqlite.js';
import type { Store } from './store/store.js';
import type { Logger } from './telemetry/logger.js';
import { createMetrics } from './telemetry/metrics.js';

export interface DaemonOptions {
  readonly configFile?: string;
  readonly dataDir: string;
  /** HOST:PORT; overrides the config file's listen */
  readonly listen?: { host: string; port: number };
  /** the default account's token (VPCEP_TOKEN) */
  readonly token?: string;
  readonly log: Logger;
}

export interface Daemon {
  readonly address: { host: string; port: number };
  readonly control: ControlPlane;
  readonly config: Config;
  readonly dataPlane: TcpDataPlane;
  /** stops the API, drains the data plane (up to the timeout), closes the store */
  stop(drainTimeoutMs?: number): Promise<void>;
}

/** The default account's token: given, else the one kept in <data-dir>/token, else a new one written there. */
function defaultToken(dataDir: string, given: string | undefined, log: Logger): string {
  if (given) return given;
  const file = path.join(dataDir, 'token');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  log.info({ token, file }, 'generated the default account\'s token');
  return token;
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const { log } = o;
  const config = loadConfig(o.configFile);
  let store: Store | undefined;
  let app: FastifyInstance | undefined;
  let snat: SnatSetup | undefined;
  let dataPlaneToClose: TcpDataPlane | undefined;
  try {
    store = SqliteStore.open(o.dataDir);
    const snap = await store.load();
    const token = config.accounts.length ? '' : defaultToken(o.dataDir, o.token, log);
    const inventory = applyInventory(config, snap, { defaultToken: token, source: o.configFile ?? 'embedded defaults', now: new Date().toISOString() });
    await store.commit(inventory.changes);
    const after = await store.load();

    const metrics = createMetrics();
    snat = await setupSnat(config.dataplane.snat);
    const relay = selectRelay();
    log.info({ snat_mode: snat.mode, why: snat.why }, `data plane: SNAT mode ${snat.mode}`);
    log.info({ relay: relay.relay, why: relay.why }, `data plane: ${relay.relay === 'native' ? 'native splice relay' : 'JavaScript relay'}`);
    const dataPlane = new TcpDataPlane({
      snatMode: snat.mode,
      connectTimeoutMs: config.dataplane.backendConnectTimeoutMs,
      idleTimeoutMs: config.dataplane.idleTimeoutMs,
      maxConnections: config.dataplane.maxConnections,
      socketBufferBytes: config.dataplane.socketBufferBytes,
      vpcs: inventory.vpcs,
      log,
      observeConnect: (id, s) => metrics.observeConnect(id, s),
      forget: (id) => metrics.forgetEndpoint(id),
    });
    dataPlaneToClose = dataPlane;
    const native = activeRelay();
    onRelayFatal((cause) => {
      // EX_SOFTWARE: a relay thread is gone and its connections with it; a supervisor restarts us.
      log.fatal({ cause }, `data plane: ${cause}: vpcepd stops`);
      process.exit(70);
    });
    metrics.setDataPlaneSource(() => ({ active: dataPlane.activeConnections, endpoints: dataPlane.stats(), routeDecisions: dataPlane.routeDecisions, relay: native?.figures() }), { snat_mode: snat.mode, relay: relay.relay });
    const control = new ControlPlane({
      region: config.region,
      store,
      dataPlane,
      inventory,
      services: after.get('service')!.values() as Iterable<EndpointService>,
      endpoints: after.get('endpoint')!.values() as Iterable<Endpoint>,
      userRoutes: after.get('routetable')!.values() as Iterable<{ id: string; routes: Route[] }>,
      log,
    });
    await control.reconcile();

    metrics.setStatusSource(() => {
      const services = Object.fromEntries(SERVICE_STATUSES.map((s) => [s, 0]));
      const endpoints = Object.fromEntries(ENDPOINT_STATUSES.map((s) => [s, 0]));
      for (const s of control.allServices()) services[s.status]!++;
      for (const e of control.allEndpoints()) endpoints[e.status]!++;
      return { services, endpoints };
    });

    let ready = false;
    const listen = o.listen ?? config.listen;
    app = buildApi({
      control,
      metrics,
      log,
      bodyLimitBytes: DEFAULTS.api.bodyLimitBytes,
      effectiveConfig: effectiveConfig(config, listen),
      isReady: () => ready,
    });
    await app.listen({ host: listen.host, port: listen.port });
    const addr = app.server.address();
    const address = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : listen;
    ready = true;
    log.info({
      listen: `${address.host}:${address.port}`, data_dir: o.dataDir, config: o.configFile ?? 'embedded defaults',
      accounts: inventory.accounts.map((a) => ({ name: a.name, project_id: a.project_id, domain_id: a.domain_id })),
    }, 'vpcepd ready');
    // Test hook (test/integration/native-hardening.test.ts): a relay thread dies now.
    if (process.env.VPCEP_RELAY_TEST_FAULT === 'thread') native?.testHooks.testBreakThread();

    const openStore = store;
    const openApp = app;
    const openSnat = snat;
    return {
      address,
      control,
      config,
      dataPlane,
      async stop(drainTimeoutMs = config.dataplane.drainTimeoutMs) {
        await openApp.close();
        const d = await dataPlane.drain(drainTimeoutMs);
        if (d.drained || d.cut) log.info(d, 'data plane drained');
        await control.settle();
        await openStore.close();
        await openSnat.teardown();
      },
    };
  } catch (err) {
    await app?.close().catch(() => undefined);
    dataPlaneToClose?.close();
    await store?.close().catch(() => undefined);
    await snat?.teardown().catch(() => undefined);
    throw err;
  }
}

function effectiveConfig(c: Config, listen: { host: string; port: number }): unknown {
  return {
    region: c.region,
    listen: `${listen.host}:${listen.port}`,
    dataplane: c.dataplane,
    accounts: c.accounts.length || 1,
    vpcs: c.vpcs.length,
    public_services: c.public_services.map((p) => p.name),
    defaults: DEFAULTS,
  };
}
