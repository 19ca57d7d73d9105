// 5. The cap under a storm: STORM clients (one client process) connect at once to one endpoint
// whose cap is 3,000. Exactly 3,000 must be admitted (vpcep_endpoint_active_connections) and
// the rest refused with a reset (vpcep_endpoint_rejected_connections_total{reason="cap"}).
// vpcep only: HAProxy has no equivalent refusal (its maxconn stops accepting and leaves the rest
// waiting in the kernel's accept queue), and the direct path has no cap.
import path from 'node:path';
import { sleep, startWorker, stop, workerReady } from '../procs.mjs';
import { libDir } from '../paths.mjs';
import { CAP } from '../vpcep.mjs';

export const STORM = 5000;

export default {
  name: 'storm',
  title: `the cap under a storm: ${STORM.toLocaleString('en-US')} clients racing one endpoint (cap ${CAP.toLocaleString('en-US')})`,
  paths: ['vpcep'],
  figures: [
    { key: 'admitted', label: `admitted of ${STORM.toLocaleString('en-US')} (must be ${CAP.toLocaleString('en-US')})`, unit: 'conn', better: '', digits: 0 },
    { key: 'refused', label: `refused, reason cap (must be ${(STORM - CAP).toLocaleString('en-US')})`, unit: 'conn', better: '', digits: 0 },
    { key: 'settle_s', label: 'time until every client is admitted or reset', unit: 's', better: 'lower', digits: 2 },
  ],
  async setup(env) {
    this.client = startWorker('storm client', path.join(libDir, 'workers/holder.mjs'), [], { log: path.join(env.dir, 'storm-client.log') });
    await workerReady(this.client);
  },
  async teardown() {
    await stop(this.client);
  },
  async run(env) {
    const d = env.vpcep;
    const ep = env.endpoints[0];
    const target = env.target('vpcep', 'hold');
    const hold = env.backends.hold;
    await d.idle();
    const f0 = await d.endpointFigures(ep.id);

    const t0 = performance.now();
    await this.client.request({ op: 'storm', host: target.host, port: target.port, n: STORM });
    let states;
    let backend;
    // settled: every client is either refused (reset) or held by the backend, or 30 s have passed
    const limit = Date.now() + 30_000;
    for (;;) {
      states = await this.client.request({ op: 'states' });
      backend = await hold.count();
      if (states.connecting === 0 && states.reset + states.closed + backend.open >= STORM) break;
      if (Date.now() > limit) break;
      await sleep(25);
    }
    const settle = (performance.now() - t0) / 1000;
    await sleep(300); // nothing more moves
    states = await this.client.request({ op: 'states' });
    backend = await hold.count();
    const f1 = await d.endpointFigures(ep.id);
    const admitted = f1.active;
    const refused = (f1.rejected.cap ?? 0) - (f0.rejected.cap ?? 0);
    const admittedTotal = f1.connections - f0.connections;

    await this.client.request({ op: 'close' });
    await d.idle(30_000);

    const detail = { clients: STORM, admitted_gauge: admitted, admitted_counter: admittedTotal, refused_cap: refused, client_states: states, backend_open: backend.open, endpoint_refusals_total: f1.rejected };
    const exact = admitted === CAP && admittedTotal === CAP && refused === STORM - CAP
      && states.connected === CAP && states.reset === STORM - CAP && backend.open === CAP;
    if (!exact) throw new Error(`the storm did not admit exactly ${CAP} and refuse ${STORM - CAP}: ${JSON.stringify(detail)}`);
    return { figures: { admitted, refused, settle_s: settle }, detail };
  },
};
