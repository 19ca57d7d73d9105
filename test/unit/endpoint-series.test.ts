// The per-endpoint series written out by hand (src/telemetry/endpoint-series.ts): the text format
// a Prometheus parser reads, every declared per-endpoint family with its help and type, cumulative
// histogram buckets, escaped label values, and nothing of an endpoint that no longer exists.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { constants, crc32, gunzipSync, inflateRawSync } from 'node:zlib';
import { Chunk, ConnectHistograms, crc32Combine, gzipOf, x8nModP, CONNECT_BUCKETS, EndpointSeriesCache, escapeLabel, renderEndpointSeries as render } from '../../src/telemetry/endpoint-series.js';
import { ENDPOINT_INFO_LABELS, METRICS, type EndpointInfo } from '../../src/telemetry/metric-table.js';

/** the series as text (they come as one Buffer) */
const renderEndpointSeries = (...a: Parameters<typeof render>): string => render(...a).toString('utf8');
const info = (id: string): EndpointInfo => Object.fromEntries(ENDPOINT_INFO_LABELS.map((k) => [k, k === 'endpoint_id' ? id : `${k}-x`])) as EndpointInfo;
const figures = (id: string, over: Partial<{ active: number; connections: number; rejected: Record<string, number>; closed: Record<string, number> }> = {}) => ({
  id, active: 0, connections: 0, rejected: {}, closed: {}, receivedBytes: 0, sentBytes: 0, snatPorts: 0, ...over,
});

describe('per-endpoint series in the text format', () => {
  it('declares every per-endpoint family once, with the table\'s help and type, even without samples', () => {
    const text = renderEndpointSeries([], [], new ConnectHistograms());
    const tokenFamilies = METRICS.filter((m) => m.labels.includes('endpoint_id'));
    for (const m of tokenFamilies) {
      expect(text).toContain(`# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n`);
    }
    expect(text.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([]);
  });

  it('writes one sample per endpoint and series, reasons only once counted, the info labels in the table\'s order', () => {
    const text = renderEndpointSeries([info('ep-1')], [figures('ep-1', { active: 2, connections: 7, rejected: { cap: 3, vpc: 0 }, closed: { done: 5 } })], new ConnectHistograms());
    expect(text).toContain('vpcep_endpoint_active_connections{endpoint_id="ep-1"} 2\n');
    expect(text).toContain('vpcep_endpoint_connections_total{endpoint_id="ep-1"} 7\n');
    expect(text).toContain('vpcep_endpoint_rejected_connections_total{endpoint_id="ep-1",reason="cap"} 3\n');
    expect(text).not.toContain('reason="vpc"');
    expect(text).toContain('vpcep_endpoint_closed_connections_total{endpoint_id="ep-1",reason="done"} 5\n');
    expect(text).toContain(`vpcep_endpoint_info{${ENDPOINT_INFO_LABELS.map((k) => `${k}="${k === 'endpoint_id' ? 'ep-1' : `${k}-x`}"`).join(',')}} 1\n`);
  });

  it('keeps the connect histogram as cumulative buckets, +Inf, sum and count; forgets a deleted endpoint', () => {
    const h = new ConnectHistograms();
    h.observe('ep-1', 0.0001); // on the first bound: counted in it (le is inclusive)
    h.observe('ep-1', 0.003);
    h.observe('ep-1', 60);
    h.observe('ep-2', 0.001);
    const text = renderEndpointSeries([], [figures('ep-1')], h);
    const bucket = (le: string) => Number(new RegExp(`^vpcep_endpoint_backend_connect_seconds_bucket\\{le="${le.replace('+', '\\+')}",endpoint_id="ep-1"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(bucket('0.0001')).toBe(1);
    expect(bucket('0.0025')).toBe(1);
    expect(bucket('0.005')).toBe(2);
    expect(bucket(String(CONNECT_BUCKETS.at(-1)))).toBe(2);
    expect(bucket('+Inf')).toBe(3);
    expect(text).toMatch(/^vpcep_endpoint_backend_connect_seconds_count\{endpoint_id="ep-1"\} 3$/m);
    expect(Number(/^vpcep_endpoint_backend_connect_seconds_sum\{endpoint_id="ep-1"\} (\S+)$/m.exec(text)?.[1])).toBeCloseTo(60.0031, 6);
    // ep-2 is not among the endpoints that exist: none of its samples
    expect(text).not.toContain('ep-2');
    h.forget('ep-1');
    expect(renderEndpointSeries([], [figures('ep-1')], h)).not.toContain('_bucket');
  });

  it('writes many endpoints whole, after the daemon-wide series, non-ASCII labels intact', () => {
    const ids = Array.from({ length: 150 }, (_, i) => `ep-${i}`);
    const h = new ConnectHistograms();
    for (const id of ids) h.observe(id, 0.002);
    const text = renderEndpointSeries(ids.map((id) => ({ ...info(id), service_name: 'café-ü' } as EndpointInfo)), ids.map((id, i) => figures(id, { active: i })), h, '# the daemon-wide series\n');
    expect(text.startsWith('# the daemon-wide series\n# HELP vpcep_endpoint_info')).toBe(true);
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const id of ids) {
      const mine = lines.filter((l) => l.includes(`endpoint_id="${id}"`));
      // info, active, connections, the three byte and port gauges, the histogram's buckets, +Inf, sum and count
      expect(mine.length).toBe(1 + 2 + 3 + CONNECT_BUCKETS.length + 3);
    }
    expect(lines.filter((l) => l.startsWith('vpcep_endpoint_active_connections{')).map((l) => Number(l.split(' ')[1]))).toEqual(ids.map((_, i) => i));
    expect(lines.filter((l) => l.includes('service_name="café-ü"')).length).toBe(150);
  });

  it('kept between scrapes: what moved is written again, what did not is the same text, a gone endpoint is dropped', () => {
    const cache = new EndpointSeriesCache();
    const h = new ConnectHistograms();
    h.observe('ep-1', 0.002);
    const scrape = (eps: ReturnType<typeof figures>[], infos = eps.map((e) => info(e.id))) => Buffer.concat(cache.render(infos, eps, h).map((c) => c.bytes)).toString('utf8');
    const first = scrape([figures('ep-1', { connections: 1, closed: { done: 1 } }), figures('ep-2')]);
    // the same figures: the same text, byte for byte, as a render without the cache
    expect(scrape([figures('ep-1', { connections: 1, closed: { done: 1 } }), figures('ep-2')])).toBe(first);
    expect(renderEndpointSeries([info('ep-1'), info('ep-2')], [figures('ep-1', { connections: 1, closed: { done: 1 } }), figures('ep-2')], h)).toBe(first);
    // ep-1 moves: a counter, a new reason, its histogram, an info label; ep-2 does not
    h.observe('ep-1', 30);
    const moved = scrape([figures('ep-1', { connections: 2, closed: { done: 1, reset: 1 }, rejected: { cap: 4 } }), figures('ep-2')], [{ ...info('ep-1'), snat_ip: '198.19.128.9' }, info('ep-2')]);
    expect(moved).toContain('vpcep_endpoint_connections_total{endpoint_id="ep-1"} 2\n');
    expect(moved).toContain('vpcep_endpoint_closed_connections_total{endpoint_id="ep-1",reason="done"} 1\nvpcep_endpoint_closed_connections_total{endpoint_id="ep-1",reason="reset"} 1\n');
    expect(moved).toContain('vpcep_endpoint_rejected_connections_total{endpoint_id="ep-1",reason="cap"} 4\n');
    expect(moved).toContain('vpcep_endpoint_backend_connect_seconds_count{endpoint_id="ep-1"} 2\n');
    expect(moved).toContain('vpcep_endpoint_backend_connect_seconds_bucket{le="+Inf",endpoint_id="ep-1"} 2\n');
    expect(moved).toContain('snat_ip="198.19.128.9"');
    expect(moved).not.toContain('vpcep_endpoint_connections_total{endpoint_id="ep-1"} 1\n');
    expect(moved).toContain('vpcep_endpoint_connections_total{endpoint_id="ep-2"} 0\n');
    // a histogram made anew for an id (forgotten, then observed) is written from its own counts
    h.forget('ep-1');
    h.observe('ep-1', 0.002);
    h.observe('ep-1', 0.002);
    expect(scrape([figures('ep-1')])).toContain('vpcep_endpoint_backend_connect_seconds_bucket{le="0.0025",endpoint_id="ep-1"} 2\n');
    // ep-2 was not in that scrape: dropped from the cache
    expect(cache.size).toBe(1);
    expect(scrape([])).not.toContain('endpoint_id=');
    expect(cache.size).toBe(0);
  });

  it('escapes backslashes, quotes and newlines in label values', () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeLabel('plain-id')).toBe('plain-id');
  });

  it('a kept deflate piece holds its own bytes, not zlib\'s 16 KiB output buffer (6 KiB per endpoint at 1,000)', () => {
    const chunk = new Chunk(Buffer.from('vpcep_endpoint_active_connections{endpoint_id="ep-1"} 2\n'.repeat(32)));
    expect(inflateRawSync(chunk.deflated, { finishFlush: constants.Z_SYNC_FLUSH }).equals(chunk.bytes)).toBe(true);
    expect(chunk.deflated.buffer.byteLength).toBeLessThan(16 * 1024);
  });

  it('chunks gzipped are one member (curl --compressed reads only the first) with the CRC and size of their text', () => {
    const chunks = ['# HELP a b\n', '', 'a{x="1"} 2\n'.repeat(500), 'é\n'].map((t) => new Chunk(Buffer.from(t)));
    // an empty chunk of its own empty ArrayBuffer (as a block with no endpoint renders): Node's crc32() answers 0 for it
    chunks.splice(1, 0, new Chunk(Buffer.from(new ArrayBuffer(0))));
    const text = Buffer.concat(chunks.map((c) => c.bytes));
    const gz = gzipOf(chunks);
    expect(gunzipSync(gz).equals(text)).toBe(true);
    expect(gz.readUInt32LE(gz.length - 4)).toBe(text.length);
    expect(gz.readUInt32LE(gz.length - 8)).toBe(crc32(text));
    // one member: what lies between its header and its trailer is one deflate stream, the whole text
    const inflated = inflateRawSync(gz.subarray(10, gz.length - 8));
    expect(inflated.equals(text)).toBe(true);
    expect(gzipOf([]).length).toBe(20);
    // the CRCs joined as zlib's crc32_combine: the CRC of random texts cut at random places
    for (let round = 0; round < 50; round++) {
      const all = randomBytes(1 + Math.floor(Math.random() * 20_000));
      const cuts = Array.from({ length: 1 + Math.floor(Math.random() * 6) }, () => Math.floor(Math.random() * all.length)).sort((a, b) => a - b);
      let crc = 0;
      let from = 0;
      for (const to of [...cuts, all.length]) {
        const part = all.subarray(from, to);
        crc = crc32Combine(crc, part.length ? crc32(part) : 0, x8nModP(part.length));
        from = to;
      }
      expect(crc).toBe(crc32(all));
    }
    expect(gunzipSync(gzipOf([])).length).toBe(0);
  });
});
