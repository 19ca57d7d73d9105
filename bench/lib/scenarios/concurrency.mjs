// 4. Concurrency: 3,000 connections held on each of ENDPOINTS endpoints (vpcep), frontends
// (HAProxy) or straight to the backend (direct), opened by one client process per endpoint
// (3,000 descriptors each) against the hold server (its own process). Figures: the relay's RSS
// (VmRSS of /proc/<pid>/status) of a freshly started relay before, and while holding them all,
// KiB per held connection, and how long opening them all took. The direct path has no relay, so
// no RSS.
import path from 'node:path';
import { rssKiB, sleep, startWorker, stop, workerReady } from '../procs.mjs';
import { libDir } from '../paths.mjs';
import { CAP } from '../vpcep.mjs';

export const PER_ENDPOINT = CAP;

async function until(what, fn, ms) {
  const limit = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last.ok) return last;
    if (Date.now() > limit) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(last)}`);
    await sleep(50);
  }
}

export default {
  name: 'concurrency',
  title: (env) => `concurrency: ${PER_ENDPOINT.toLocaleString('en-US')} connections held ${env.concurrencyEndpoints > 1 ? `on each of ${env.concurrencyEndpoints} endpoints` : 'on one endpoint'} (one client process per endpoint)`,
  paths: ['vpcep', 'haproxy', 'direct'],
  figures: [
    { key: 'rss_before_mib', label: 'relay RSS before', unit: 'MiB', better: 'lower', digits: 1 },
    { key: 'rss_held_mib', label: 'relay RSS holding them all', unit: 'MiB', better: 'lower', digits: 1 },
    { key: 'kib_per_conn', label: 'relay memory per held connection', unit: 'KiB', better: 'lower', digits: 2 },
    { key: 'open_s', label: 'time to open them all', unit: 's', better: 'lower', digits: 2 },
  ],
  async setup(env) {
    this.holders = [];
    for (let i = 0; i < env.concurrencyEndpoints; i++) {
      const w = startWorker(`holder ${i + 1}`, path.join(libDir, 'workers/holder.mjs'), [], { log: path.join(env.dir, `holder-${i + 1}.log`) });
      this.holders.push(w);
    }
    await Promise.all(this.holders.map((w) => workerReady(w)));
  },
  async teardown() {
    await Promise.all((this.holders ?? []).map((w) => stop(w)));
  },
  async run(env, p) {
    const n = env.concurrencyEndpoints;
    const total = n * PER_ENDPOINT;
    const targets = env.holdTargets(p, n);
    const hold = env.backends.hold;
    await until('the hold server to be empty', async () => ({ ok: (await hold.count()).open === 0 }), 15_000);
    // Memory is measured on a relay process that has served nothing yet: a process that has
    // (the earlier scenarios, an earlier round) keeps the heap or pools it grew, and new
    // connections would fill those first, hiding their cost.
    await env.freshRelay(p);
    const pid = p === 'vpcep' ? env.vpcep.pid : p === 'haproxy' ? env.haproxy.proc.child.pid : null;
    const refusedBefore = p === 'vpcep' ? await env.vpcep.refusals() : null;
    await sleep(500);
    const rssBefore = pid ? rssKiB(pid) : null;

    const t0 = performance.now();
    const opened = await Promise.all(this.holders.map((w, i) => w.request({ op: 'open', host: targets[i].host, port: targets[i].port, n: PER_ENDPOINT, batch: 200 }, 120_000)));
    const refused = opened.reduce((a, o) => a + o.failed, 0);
    if (refused) throw new Error(`${refused} of ${total} connections through ${p} failed to connect: ${JSON.stringify(opened.map((o) => o.errors))}`);
    // held means the backend holds them all (and, for vpcep, the daemon counts them all)
    await until(`the backend to hold ${total}`, async () => {
      const c = await hold.count();
      return { ok: c.open === total, backend_open: c.open };
    }, 60_000);
    const openSeconds = (performance.now() - t0) / 1000;
    let daemonActive = null;
    if (p === 'vpcep') {
      daemonActive = await env.vpcep.active();
      const refusals = Object.entries(await env.vpcep.refusals()).filter(([k, v]) => v > (refusedBefore[k] ?? 0));
      if (daemonActive !== total || refusals.length) throw new Error(`vpcep holds ${daemonActive} of ${total} (refusals ${JSON.stringify(Object.fromEntries(refusals))})`);
    }
    await sleep(500);
    const states = await Promise.all(this.holders.map((w) => w.request({ op: 'states' })));
    const stillHeld = states.reduce((a, s) => a + s.connected, 0);
    if (stillHeld !== total) throw new Error(`only ${stillHeld} of ${total} client connections still open through ${p}: ${JSON.stringify(states)}`);
    const rssHeld = pid ? rssKiB(pid) : null;

    await Promise.all(this.holders.map((w) => w.request({ op: 'close' })));
    await until('the hold server to be empty after the close', async () => ({ ok: (await hold.count()).open === 0 }), 30_000);
    if (p === 'vpcep') await env.vpcep.idle(30_000);
    await sleep(200);
    const rssAfter = pid ? rssKiB(pid) : null;

    const mib = (k) => (k === null ? null : k / 1024);
    return {
      figures: {
        rss_before_mib: mib(rssBefore),
        rss_held_mib: mib(rssHeld),
        kib_per_conn: pid ? (rssHeld - rssBefore) / total : null,
        open_s: openSeconds,
      },
      detail: { endpoints: n, held: total, rss_before_kib: rssBefore, rss_held_kib: rssHeld, rss_after_close_kib: rssAfter, daemon_active: daemonActive },
    };
  },
};
