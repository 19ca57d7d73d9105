// The per-endpoint series (label endpoint_id, served with the metrics token), written out by hand
// at scrape time from the data plane's counters: through prom-client, each scrape reset and
// refilled a labelled child per endpoint and series (a hash of its labels each time), 87 ms and
// most of a scrape at 2,000 endpoints. The backend connect histogram is kept per endpoint as
// plain numbers, made at the endpoint's first connect. Each endpoint's lines are kept rendered as
// bytes between scrapes and written again only when their figure moved (EndpointSeriesCache); the
// reply is those chunks of bytes: as one string of 50,000 lines (2,000 endpoints), the HTTP reply's
// byte count and write flattened and encoded it again, 60 % of a scrape's CPU with its garbage.
import { constants, crc32, deflateRawSync } from 'node:zlib';
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

/** backend connect times per endpoint: counts per bucket (not cumulative), then +Inf's, the sum, then the count of all */
export class ConnectHistograms {
  private readonly byEndpoint = new Map<string, Float64Array>();

  observe(endpointId: string, seconds: number): void {
    let h = this.byEndpoint.get(endpointId);
    if (h === undefined) this.byEndpoint.set(endpointId, (h = new Float64Array(B + 3)));
    let i = 0;
    while (i < B && seconds > CONNECT_BUCKETS[i]!) i++;
    h[i]!++;
    h[B + 1]! += seconds;
    h[B + 2]!++;
  }

  forget(endpointId: string): void {
    this.byEndpoint.delete(endpointId);
  }

  /** the endpoint's histogram (absent: it never connected to a backend) */
  of(endpointId: string): Float64Array | undefined {
    return this.byEndpoint.get(endpointId);
  }
}

/** the lines of one endpoint's histogram */
function histogramLines(name: string, ep: string, h: Float64Array): string {
  let s = '';
  let n = 0;
  for (let i = 0; i < B; i++) {
    n += h[i]!;
    s += `${name}_bucket{${LE[i]},${ep}} ${n}\n`;
  }
  n += h[B]!;
  return `${s}${name}_bucket{le="+Inf",${ep}} ${n}\n${name}_sum{${ep}} ${h[B + 1]}\n${name}_count{${ep}} ${n}\n`;
}

/** a label value as the text format wants it */
export function escapeLabel(v: string): string {
  return /[\\\n"]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v;
}

const HEADERS = new Map<string, string>(METRICS.map((m) => [m.name, `# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${m.name} ${m.type}\n`]));

function header(name: MetricName): string {
  return HEADERS.get(name)!;
}

/**
 * Bytes of the reply, and the same deflated, made when first asked for: a piece of deflate data
 * that ends on a byte boundary with no final block (a sync flush), so that the pieces of a reply's
 * chunks one after the other are one deflate stream (as pigz joins its blocks), and gzipOf() wraps
 * them in one gzip member. The text repeats each label per line: deflated it is a twentieth of its
 * size, so a scrape writes 300 KiB rather than 5.6 MiB at 2,000 endpoints.
 */
export class Chunk {
  /** the deflate piece, the CRC-32 of the bytes and x^(8 * their length) mod the CRC's polynomial, made together at the first gzip reply */
  private packed: { readonly deflated: Buffer; readonly crc: number; readonly shift: number } | null = null;

  constructor(readonly bytes: Buffer) {}

  private pack(): { readonly deflated: Buffer; readonly crc: number; readonly shift: number } {
    return (this.packed ??= {
      // copied out: the answer is a view of zlib's 16 KiB output buffer, which a kept piece of a
      // few hundred bytes would hold for good (16 KiB per chunk: 6 KiB per endpoint at 1,000; issue 16)
      deflated: Buffer.from(deflateRawSync(this.bytes, { level: constants.Z_BEST_SPEED, finishFlush: constants.Z_SYNC_FLUSH })),
      // (Node 20's crc32() of an empty Buffer with an empty ArrayBuffer of its own answers 0: an empty chunk's is 0 anyway)
      crc: this.bytes.length === 0 ? 0 : crc32(this.bytes),
      shift: x8nModP(this.bytes.length),
    });
  }

  get deflated(): Buffer {
    return this.pack().deflated;
  }

  get crc(): number {
    return this.pack().crc;
  }

  get shift(): number {
    return this.pack().shift;
  }
}

// CRC-32 combination, as zlib's crc32_combine() (its crc32.c: multmodp, x2nmodp), which Node does
// not expose: the CRC of A then B is (CRC(A) times x^(8 * length of B)) xor CRC(B), mod the
// polynomial, in the CRC's reflected bit order. A chunk keeps its CRC and its x^(8n), so a scrape
// joins the CRCs of its chunks in 32 steps each instead of reading 5.6 MiB of text again.
const POLY = 0xedb88320;

/** A times B modulo the CRC's polynomial (reflected: x^0 is the top bit) */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) mod the polynomial, k = 0..31 */
const X2N: readonly number[] = (() => {
  const t: number[] = [];
  let p = 0x40000000; // x^1
  t.push(p);
  for (let n = 1; n < 32; n++) t.push((p = multModP(p, p)));
  return t;
})();

/** x^(8 * N) mod the polynomial: what a CRC is multiplied by to be followed by N bytes */
export function x8nModP(n: number): number {
  let p = 0x80000000; // x^0
  let k = 3;
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** the CRC-32 of A's bytes then B's, from CRC A, CRC B and B's x^(8 * length) */
export function crc32Combine(crcA: number, crcB: number, shiftB: number): number {
  return (multModP(shiftB, crcA) ^ crcB) >>> 0;
}

/** RFC 1952: the magic, deflate, no flags, no time, no extra flags, OS unknown */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
/** an empty final block of fixed Huffman codes: the end of the deflate stream */
const DEFLATE_END = Buffer.from([3, 0]);

/**
 * CHUNKS as one gzip member (RFC 1952): their kept deflate pieces, the stream's end, the CRC-32 and
 * size of their text. One member, not one per chunk: curl `--compressed` (7.88) reads only a
 * reply's first member, where Prometheus's Go reader reads them all.
 */
export function gzipOf(chunks: readonly Chunk[]): Buffer {
  let crc = 0;
  let size = 0;
  const parts: Buffer[] = [GZIP_HEADER];
  for (const c of chunks) {
    parts.push(c.deflated);
    crc = crc32Combine(crc, c.crc, c.shift);
    size += c.bytes.length;
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  parts.push(DEFLATE_END, trailer);
  return Buffer.concat(parts);
}

const HEADER_CHUNKS = new Map<string, Chunk>([...HEADERS].map(([name, text]) => [name, new Chunk(Buffer.from(text))]));

const CONNECT = 'vpcep_endpoint_backend_connect_seconds';
/** the families of numbers per endpoint, in the order they are written, and what each reads */
const FAMILIES: ReadonlyArray<readonly [MetricName, 'number' | 'reasons', (e: EndpointSeriesFigures) => number | Readonly<Record<string, number>>]> = [
  ['vpcep_endpoint_active_connections', 'number', (e) => e.active],
  ['vpcep_endpoint_connections_total', 'number', (e) => e.connections],
  ['vpcep_endpoint_rejected_connections_total', 'reasons', (e) => e.rejected],
  ['vpcep_endpoint_closed_connections_total', 'reasons', (e) => e.closed],
  ['vpcep_endpoint_received_bytes_total', 'number', (e) => e.receivedBytes],
  ['vpcep_endpoint_sent_bytes_total', 'number', (e) => e.sentBytes],
  ['vpcep_endpoint_snat_ports_in_use', 'number', (e) => e.snatPorts],
];
const F = FAMILIES.length;
/** the blocks of the reply: the info family, the families of FAMILIES, the connect histogram */
const INFO = F;
const HISTOGRAM = F + 1;
/**
 * endpoints per chunk of a block: a chunk's bytes are written again when one of its lines moves.
 * Small enough that a chunk is malloc's (a fresh multi-MiB buffer per scrape paid a page fault per
 * 4 KiB: 40 ms for 6 MiB on the 2-core VM), large enough that a scrape is a few hundred writes.
 */
const CHUNK = 32;

/** one endpoint's lines as last written, per family, with the figure each was written from */
interface Rendered {
  /** the scrape that last saw the endpoint */
  seen: number;
  /** `{endpoint_id="..."` */
  readonly labels: string;
  /** the info the info line was written from, and its labels (\0 after each value) */
  infoOf: EndpointInfo | undefined;
  infoKey: string;
  /** per family: the number, or for counts by reason their sum (counters only grow: an equal sum is equal counts) */
  readonly figure: Float64Array;
  /** the histogram its lines were written from, and its count of connects then */
  of: Float64Array | undefined;
  connects: number;
}

/**
 * The per-endpoint series kept rendered between scrapes, as bytes in chunks of CHUNK endpoints per
 * family: a chunk is written again only when a figure of one of its endpoints moved or its
 * endpoints changed; a scrape of endpoints that carried nothing since the last sends the kept
 * chunks instead of formatting 25 lines per endpoint (77 ms of a scrape at 2,000 endpoints, the
 * connect histogram's 17 lines 72 % of it). Only the figures each chunk was written from are kept
 * per endpoint, not its text. Endpoints the last scrape did not see are dropped.
 */
export class EndpointSeriesCache {
  private readonly byEndpoint = new Map<string, Rendered>();
  private scrape = 0;
  /** per block, its chunks: their bytes and the endpoints, in order, they were written for */
  private readonly blocks: Array<Array<{ chunk: Chunk; rows: readonly Rendered[] }>> = Array.from({ length: F + 2 }, () => []);

  /** endpoints whose lines are kept (tests) */
  get size(): number {
    return this.byEndpoint.size;
  }

  /**
   * every per-endpoint family in the text format, after PREFIX (the daemon-wide series), as the
   * chunks to write in order (most of them the last scrape's)
   */
  render(info: readonly EndpointInfo[], endpoints: readonly EndpointSeriesFigures[], histograms: ConnectHistograms, prefix = ''): Chunk[] {
    const now = ++this.scrape;
    const out: Chunk[] = [new Chunk(Buffer.from(prefix))];
    const infoRows = info.map((e) => this.entry(e.endpoint_id, now));
    let moved = new Uint8Array(Math.ceil(info.length / CHUNK));
    for (let i = 0; i < info.length; i++) {
      const e = info[i]!;
      const r = infoRows[i]!;
      // the same object: the same labels (the daemon makes an endpoint's info again when its record changes)
      if (e === r.infoOf) continue;
      r.infoOf = e;
      let key = '';
      for (const k of ENDPOINT_INFO_LABELS) key += `${e[k]}\0`;
      if (key === r.infoKey) continue;
      r.infoKey = key;
      moved[Math.floor(i / CHUNK)] = 1;
    }
    this.block(INFO, 'vpcep_endpoint_info', infoRows, moved, (i) => infoLine(info[i]!), out);
    const rows = endpoints.map((e) => this.entry(e.id, now));
    for (let f = 0; f < F; f++) {
      const [name, kind, read] = FAMILIES[f]!;
      moved = new Uint8Array(Math.ceil(rows.length / CHUNK));
      for (let i = 0; i < endpoints.length; i++) {
        const r = rows[i]!;
        const value = read(endpoints[i]!);
        let figure = value as number;
        if (kind === 'reasons') {
          const counts = value as Readonly<Record<string, number>>;
          figure = 0;
          for (const reason in counts) figure += counts[reason]!;
        }
        if (figure === r.figure[f]) continue;
        r.figure[f] = figure;
        moved[Math.floor(i / CHUNK)] = 1;
      }
      const line = kind === 'number'
        ? (i: number) => `${name}${rows[i]!.labels}} ${read(endpoints[i]!) as number}\n`
        : (i: number) => {
          const counts = read(endpoints[i]!) as Readonly<Record<string, number>>;
          let s = '';
          for (const reason in counts) {
            const n = counts[reason]!;
            if (n > 0) s += `${name}${rows[i]!.labels},reason="${reason}"} ${n}\n`;
          }
          return s;
        };
      this.block(f, name, rows, moved, line, out);
    }
    moved = new Uint8Array(Math.ceil(rows.length / CHUNK));
    const hs = endpoints.map((e) => histograms.of(e.id));
    for (let i = 0; i < endpoints.length; i++) {
      const r = rows[i]!;
      const h = hs[i];
      if (h === r.of && (h === undefined || h[B + 2] === r.connects)) continue;
      r.of = h;
      r.connects = h?.[B + 2] ?? 0;
      moved[Math.floor(i / CHUNK)] = 1;
    }
    this.block(HISTOGRAM, CONNECT, rows, moved, (i) => (hs[i] === undefined ? '' : histogramLines(CONNECT, rows[i]!.labels.slice(1), hs[i]!)), out);
    for (const [id, r] of this.byEndpoint) if (r.seen !== now) this.byEndpoint.delete(id);
    return out;
  }

  /**
   * block B's header and chunks onto OUT: each as last written, unless a figure in it moved or its
   * endpoints are not the same; then every line of the chunk is written again (LINE of row i), so
   * that only the bytes are kept, not the text twice
   */
  private block(b: number, name: MetricName, rows: readonly Rendered[], moved: Uint8Array, line: (i: number) => string, out: Chunk[]): void {
    out.push(HEADER_CHUNKS.get(name)!);
    const kept = this.blocks[b]!;
    const chunks = moved.length;
    for (let c = 0; c < chunks; c++) {
      const from = c * CHUNK;
      const to = Math.min(rows.length, from + CHUNK);
      const k = kept[c];
      if (k !== undefined && moved[c] === 0 && sameRows(k.rows, rows, from, to)) {
        out.push(k.chunk);
        continue;
      }
      let s = '';
      for (let i = from; i < to; i++) s += line(i);
      const chunk = new Chunk(Buffer.from(s));
      kept[c] = { chunk, rows: rows.slice(from, to) };
      out.push(chunk);
    }
    kept.length = chunks;
  }

  private entry(id: string, now: number): Rendered {
    let r = this.byEndpoint.get(id);
    if (r === undefined) {
      r = { seen: now, labels: `{endpoint_id="${escapeLabel(id)}"`, infoOf: undefined, infoKey: '', figure: new Float64Array(F).fill(-1), of: undefined, connects: 0 };
      this.byEndpoint.set(id, r);
    }
    r.seen = now;
    return r;
  }
}

/** an endpoint's vpcep_endpoint_info line */
function infoLine(e: EndpointInfo): string {
  let labels = '';
  for (const k of ENDPOINT_INFO_LABELS) labels += `${labels ? ',' : ''}${k}="${escapeLabel(e[k])}"`;
  return `vpcep_endpoint_info{${labels}} 1\n`;
}

/** whether A is B's rows FROM to TO */
function sameRows(a: readonly Rendered[], b: readonly Rendered[], from: number, to: number): boolean {
  if (a.length !== to - from) return false;
  for (let i = from; i < to; i++) if (a[i - from] !== b[i]) return false;
  return true;
}

/**
 * every per-endpoint family in the text format, after PREFIX (the daemon-wide series): each
 * endpoint that exists has its series, a reason only once counted (with CACHE, the lines of
 * endpoints whose figures did not move since the last scrape are copied, not written again)
 */
export function renderEndpointSeries(info: readonly EndpointInfo[], endpoints: readonly EndpointSeriesFigures[], histograms: ConnectHistograms, prefix = '', cache = new EndpointSeriesCache()): Buffer {
  return Buffer.concat(cache.render(info, endpoints, histograms, prefix).map((c) => c.bytes));
}
