// Bandwidth per endpoint connection (README "Bandwidth"): one iperf3 stream through the endpoint
// with its connection limited to 100 and to 1,000 Mbit/s, each way (client to server, and -R), for
// --duration seconds (the first second omitted). Figures: the rate reached as a share of the limit
// (1.00: exact; the tests only bound it within 2x). The limit is lifted afterwards.
import { iperf } from './bulk.mjs';

const LIMITS = [100, 1000];

export default {
  name: 'shaping',
  title: 'bandwidth limit per endpoint connection (iperf3, 1 stream each way)',
  paths: ['vpcep'],
  figures: LIMITS.flatMap((mbps) => [
    { key: `up_${mbps}`, label: `${mbps} Mbit/s limit, client to server: reached / limit`, unit: 'ratio', better: 'higher', digits: 3 },
    { key: `down_${mbps}`, label: `${mbps} Mbit/s limit, server to client: reached / limit`, unit: 'ratio', better: 'higher', digits: 3 },
  ]),
  async run(env) {
    const target = env.target('vpcep', 'bulk');
    const seconds = Math.max(2, Math.round(env.opts.duration));
    const path = `/vpc-endpoint-services/${env.service.id}/connections/bandwidth`;
    const set = (bandwidth) => env.vpcep.api('PUT', path, { connections: [{ id: env.endpoints[0].id, bandwidth }] });
    const figures = {};
    const detail = {};
    try {
      for (const mbps of LIMITS) {
        await set(mbps);
        const up = await iperf(target, 1, seconds);
        const down = await iperf(target, 1, seconds, ['-R']);
        figures[`up_${mbps}`] = (up.gbps * 1000) / mbps;
        figures[`down_${mbps}`] = (down.gbps * 1000) / mbps;
        detail[mbps] = { up, down };
      }
    } finally {
      await set(null);
    }
    return { figures, detail };
  },
};
