// Everything the scenarios run against, started on loopback: the backends, vpcepd with a service
// and its endpoints, HAProxy with the equivalent mapping. Three paths reach each backend:
//   vpcep    client -> endpoint host_ip (127.1.1.x):port -> vpcepd -> 127.0.0.1:port
//   haproxy  client -> 127.200.0.x:port -> HAProxy -> 127.0.0.1:port
//   direct   client -> 127.0.0.1:port (the physical limit)
import { startHoldServer, startIperfServer, startNginx } from './backends.mjs';
import { startHaproxy } from './haproxy.mjs';
import { pickPorts, rawGet } from './net.mjs';
import { rootDir } from './paths.mjs';
import { Vpcepd } from './vpcep.mjs';

export const HAPROXY_HOST = (i) => `127.200.0.${i + 1}`;
/** the host address of the i-th endpoint: the daemon hands out 10.77.1.2, .3, ... in VPC number 1 */
const EXPECTED_ENDPOINT_HOST = (i) => `127.1.1.${i + 2}`;

/**
 * opts: {dir, snat, relay (VPCEP_RELAY), socketBuffer (dataplane.socket_buffer_bytes, or undefined), endpoints (how many endpoints / HAProxy hold frontends), nginxWorkers, log}
 */
export async function startWorld({ dir, snat, relay, socketBuffer, endpoints, nginxWorkers, log }) {
  const hosts = ['127.0.0.1'];
  for (let i = 0; i < endpoints; i++) hosts.push(HAPROXY_HOST(i), EXPECTED_ENDPOINT_HOST(i));
  const [bulkPort, httpPort, holdPort] = await pickPorts(3, hosts);
  const ports = { bulk: bulkPort, http: httpPort, hold: holdPort };

  log(`backends: iperf3 -s on 127.0.0.1:${bulkPort}, nginx (${nginxWorkers} worker${nginxWorkers > 1 ? 's' : ''}) on 127.0.0.1:${httpPort}, hold server on 127.0.0.1:${holdPort}`);
  const [iperf, nginx, hold] = await Promise.all([
    startIperfServer({ dir, port: bulkPort }),
    startNginx({ dir, port: httpPort, workers: nginxWorkers }),
    startHoldServer({ dir, port: holdPort }),
  ]);

  const vpcep = await Vpcepd.start({ root: rootDir, dir, snat, relay, socketBuffer, endpoints });
  const info = await vpcep.dataPlaneInfo();
  const service = await vpcep.createService(Object.values(ports).map((p) => ({ client_port: p, server_port: p })));
  const eps = [];
  for (let i = 0; i < endpoints; i++) eps.push(await vpcep.createEndpoint(service.id));
  log(`vpcepd (pid ${vpcep.pid}, ${vpcep.url}, VPCEP_RELAY=${relay}): SNAT ${info.snat_mode}, relay ${info.relay} (its calls: ${info.relay_io}); service ${service.id}; endpoint${eps.length > 1 ? 's' : ''} ${eps.map((e) => `${e.host_ip} (${e.id.slice(0, 8)})`).join(', ')} accepted`);

  const frontends = [
    { name: 'bulk', bind: { host: HAPROXY_HOST(0), port: bulkPort }, server: { host: '127.0.0.1', port: bulkPort }, probe: false },
    { name: 'http', bind: { host: HAPROXY_HOST(0), port: httpPort }, server: { host: '127.0.0.1', port: httpPort } },
  ];
  for (let i = 0; i < endpoints; i++) {
    frontends.push({ name: `hold${i + 1}`, bind: { host: HAPROXY_HOST(i), port: holdPort }, server: { host: '127.0.0.1', port: holdPort } });
  }
  const haproxy = await startHaproxy({ dir, frontends });
  log(`haproxy (pid ${haproxy.proc.child.pid}): ${frontends.length} TCP frontends on 127.200.0.x, splice both ways${haproxy.warnings.length ? `; warnings: ${haproxy.warnings.join(' / ')}` : ''}`);

  const env = {
    dir,
    ports,
    vpcep,
    dataPlane: info,
    service,
    endpoints: eps,
    haproxy,
    backends: { iperf, nginx, hold },
    concurrencyEndpoints: endpoints,
    /**
     * a fresh relay process for `path` (vpcep: the daemon restarted on its store, its endpoints
     * restored; haproxy: restarted on the same config), so that memory figures start from a
     * process that has not served any load yet; direct: nothing
     */
    async freshRelay(path) {
      if (path === 'vpcep') await vpcep.restart(eps.map((e) => e.id));
      else if (path === 'haproxy') {
        await env.haproxy.stop();
        env.haproxy = await startHaproxy({ dir, frontends });
      }
    },
    /** where a client of `path` connects for the backend `kind` (bulk, http, hold) */
    target(path, kind) {
      const port = ports[kind];
      if (path === 'vpcep') return { host: eps[0].host_ip, port };
      if (path === 'haproxy') return { host: HAPROXY_HOST(0), port };
      if (path === 'direct') return { host: '127.0.0.1', port };
      throw new Error(`unknown path ${path}`);
    },
    /** the n hold targets of a path: one per endpoint (vpcep), per frontend (haproxy), or the backend n times */
    holdTargets(path, n) {
      return Array.from({ length: n }, (_, i) => {
        if (path === 'vpcep') return { host: eps[i].host_ip, port: holdPort };
        if (path === 'haproxy') return { host: HAPROXY_HOST(i), port: holdPort };
        return { host: '127.0.0.1', port: holdPort };
      });
    },
  };

  // every path answers before anything is measured
  for (const path of ['vpcep', 'haproxy', 'direct']) {
    const t = env.target(path, 'http');
    const r = (await rawGet(t.host, t.port)).toString('latin1');
    if (!r.startsWith('HTTP/1.1 200')) throw new Error(`GET through ${path} (${t.host}:${t.port}) answered ${JSON.stringify(r.slice(0, 60))}`);
  }
  return env;
}
