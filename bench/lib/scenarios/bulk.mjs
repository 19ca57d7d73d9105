// 1. Bulk throughput: iperf3 client -> path -> iperf3 server, one stream and eight (-P 8),
// client to server, for --duration seconds each. Figure: the receiver's rate (sum_received).
import { run, sleep } from '../procs.mjs';

export async function iperf(target, streams, seconds, extra = []) {
  const args = ['-c', target.host, '-p', String(target.port), '-t', String(seconds), '-P', String(streams), '-J', '--connect-timeout', '5000'];
  args.push(...extra);
  if (seconds >= 3) args.push('-O', '1'); // omit the first second (slow start) from the figure
  for (let attempt = 1; ; attempt++) {
    const r = await run('iperf3', args, { timeoutMs: (seconds + 20) * 1000, allowFailure: true });
    let j;
    try {
      j = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 printed no JSON (exit ${r.code}): ${r.stderr.trim() || r.stdout.slice(0, 300)}`);
    }
    // the server takes a moment between tests: "the server is busy running a test"
    if (j.error && /busy/i.test(j.error) && attempt < 10) { await sleep(300); continue; }
    if (j.error || r.code !== 0) throw new Error(`iperf3 -P ${streams} to ${target.host}:${target.port}: ${j.error ?? `exit ${r.code}`}`);
    return {
      gbps: j.end.sum_received.bits_per_second / 1e9,
      retransmits: j.end.sum_sent.retransmits ?? 0,
      cpu_host_percent: j.end.cpu_utilization_percent?.host_total,
      cpu_remote_percent: j.end.cpu_utilization_percent?.remote_total,
    };
  }
}

export default {
  name: 'bulk',
  title: 'bulk throughput (iperf3, client to server)',
  paths: ['vpcep', 'haproxy', 'direct'],
  figures: [
    { key: 'gbps_1', label: 'throughput, 1 stream', unit: 'Gbit/s', better: 'higher', digits: 2 },
    { key: 'gbps_8', label: 'throughput, 8 streams', unit: 'Gbit/s', better: 'higher', digits: 2 },
  ],
  async run(env, path) {
    const target = env.target(path, 'bulk');
    const seconds = Math.max(1, Math.round(env.opts.duration));
    const one = await iperf(target, 1, seconds);
    const eight = await iperf(target, 8, seconds);
    return {
      figures: { gbps_1: one.gbps, gbps_8: eight.gbps },
      detail: { seconds, one, eight },
    };
  },
};
