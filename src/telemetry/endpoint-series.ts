// The per-endpoint series (label endpoint_id, served with the metrics token), written out by hand
// at scrape time from the data plane's counters: through prom-client, each scrape reset and
// refilled a labelled child per endpoint and series (a hash of its labels each time), 87 ms and
// most of a scrape at 2,000 endpoints. The backend connect histogram is kept per endpoint as
// plain numbers, made at the endpoint's first connect. The text goes into one Buffer, an endpoint's
// lines at a time: as one string of 50,000 lines (2,000 endpoints), the HTTP reply's byte count and
// write flattened and encoded it again, 60 % of a scrape's CPU with the garbage it left.
import { ENDPOINT_INFO_LABELS, METRICS, type EndpointInfo, type MetricName } from './metric-table.js';

/** One endpoint's data-plane figures, read at scrape time (EndpointFigures of metrics.ts). */
export interface EndpointSeriesFigures {
  readonly id: string;
  readonly active: number;
  readonly connections: number;
  readonly rejected: Readonly<Record<string, number>>;
  /** admitted connections that ended, by how */
  readonly closed: Readonly<Record<string, number>>;
  readonly receivedBytes: number;
  readonly sentBytes: number;
  /** SNAT source ports held by live connections (the SNAT tuples of the connection table) */
  readonly snatPorts: number;
}

/** upper bounds (s) of vpcep_endpoint_backend_connect_seconds */
export const CONNECT_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const B = CONNECT_BUCKETS.length;
const LE = CONNECT_BUCKETS.map((b) => `le="${b}"`);

/** text appended to one Buffer that grows by doubling (UTF-8) */
export class TextBuffer {
  private buf: Buffer;
  private len = 0;

  constructor(bytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(bytes);
  }

  add(text: string): void {
    // a UTF-8 byte is at most 3 per UTF-16 unit
    const most = text.length * 3;
    if (this.len + most > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + most));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    this.len += this.buf.write(text, this.len, 'utf8');
  }

  /** the text so far (a view of the buffer: add nothing after) */
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** backend connect times per endpoint: counts per bucket (not cumulative), then +Inf's, then the sum */
export class ConnectHistograms {
  private readonly byEndpoint = new Map<string, Float64Array>();

  observe(endpointId: string, seconds: number): void {
    let h = this.byEndpoint.get(endpointId);
    if (h === undefined) this.byEndpoint.set(endpointId, (h = new Float64Array(B + 2)));
    let i = 0;
    while (i < B && seconds > CONNECT_BUCKETS[i]!) i++;
    h[i]!++;
    h[B + 1]! += seconds;
  }

  forget(endpointId: string): void {
    this.byEndpoint.delete(endpointId);
  }

  /** the histogram's samples, for the endpoints that exist, an endpoint's at a time */
  render(name: string, exists: ReadonlySet<string>, out: TextBuffer): void {
    for (const [id, h] of this.byEndpoint) {
      if (!exists.has(id)) continue;
      const ep = `endpoint_id="${escapeLabel(id)}"`;
      let s = '';
      let n = 0;
      for (let i = 0; i < B; i++) {
        n += h[i]!;
        s += `${name}_bucket{${LE[i]},${ep}} ${n}\n`;
      }
      n += h[B]!;
      s += `${name}_bucket{le="+Inf",${ep}} ${n}\n${name}_sum{${ep}} ${h[B + 1]}\n${name}_count{${ep}} ${n}\n`;
      out.add(s);
    }
  }
}

/** a label value as the text format wants it */
export function escapeLabel(v: string): string {
  return /[\\\n"]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v;
}

const HEADERS = new Map<string, string>(METRICS.map((m) => [m.name, `# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${m.name} ${m.type}\n`]));

function header(name: MetricName): string {
  return HEADERS.get(name)!;
}

const SIMPLE: ReadonlyArray<[MetricName, (e: EndpointSeriesFigures) => number]> = [
  ['vpcep_endpoint_active_connections', (e) => e.active],
  ['vpcep_endpoint_connections_total', (e) => e.connections],
];
const BY_REASON: ReadonlyArray<[MetricName, (e: EndpointSeriesFigures) => Readonly<Record<string, number>>]> = [
  ['vpcep_endpoint_rejected_connections_total', (e) => e.rejected],
  ['vpcep_endpoint_closed_connections_total', (e) => e.closed],
];
const BYTES: ReadonlyArray<[MetricName, (e: EndpointSeriesFigures) => number]> = [
  ['vpcep_endpoint_received_bytes_total', (e) => e.receivedBytes],
  ['vpcep_endpoint_sent_bytes_total', (e) => e.sentBytes],
  ['vpcep_endpoint_snat_ports_in_use', (e) => e.snatPorts],
];

/** lines of text are gathered in a string and written to the buffer about every this many */
const CHUNK = 64;

/**
 * every per-endpoint family in the text format, after PREFIX (the daemon-wide series): each
 * endpoint that exists has its series, a reason only once counted
 */
export function renderEndpointSeries(info: readonly EndpointInfo[], endpoints: readonly EndpointSeriesFigures[], histograms: ConnectHistograms, prefix = ''): Buffer {
  const out = new TextBuffer(Math.max(64 * 1024, prefix.length + endpoints.length * 3072));
  out.add(prefix);
  let s = header('vpcep_endpoint_info');
  for (let i = 0; i < info.length; i++) {
    const e = info[i]!;
    let labels = '';
    for (const k of ENDPOINT_INFO_LABELS) labels += `${labels ? ',' : ''}${k}="${escapeLabel(e[k])}"`;
    s += `vpcep_endpoint_info{${labels}} 1\n`;
    if (i % CHUNK === CHUNK - 1) { out.add(s); s = ''; }
  }
  const ids = endpoints.map((e) => `{endpoint_id="${escapeLabel(e.id)}"`);
  const simple = (name: MetricName, value: (e: EndpointSeriesFigures) => number) => {
    s += header(name);
    for (let i = 0; i < endpoints.length; i++) {
      s += `${name}${ids[i]}} ${value(endpoints[i]!)}\n`;
      if (i % CHUNK === CHUNK - 1) { out.add(s); s = ''; }
    }
  };
  for (const [name, value] of SIMPLE) simple(name, value);
  for (const [name, pick] of BY_REASON) {
    s += header(name);
    for (let i = 0; i < endpoints.length; i++) {
      const counts = pick(endpoints[i]!);
      for (const reason in counts) {
        const n = counts[reason]!;
        if (n > 0) s += `${name}${ids[i]},reason="${reason}"} ${n}\n`;
      }
      if (i % CHUNK === CHUNK - 1) { out.add(s); s = ''; }
    }
  }
  for (const [name, value] of BYTES) simple(name, value);
  out.add(s + header('vpcep_endpoint_backend_connect_seconds'));
  histograms.render('vpcep_endpoint_backend_connect_seconds', new Set(endpoints.map((e) => e.id)), out);
  return out.bytes();
}
