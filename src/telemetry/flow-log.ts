// Connection flow logs as AWS VPC Flow Logs records (aws docs "Flow log records"): a custom format
// whose first fields are the version 2 default format, in its order, then vpcep-sim's own.
// Recorded where vpcep-sim sees the traffic: the endpoint's interface. As AWS records each
// direction of a connection as its own flow, an admitted connection gives two records (client to
// endpoint, endpoint to client) when it closes and at every aggregation interval while it lives; a
// refused one gives one record, REJECT. Built only when flow logs are on: the data plane holds a
// null FlowLog otherwise and skips every call.
// Writes go through a SonicBoom (pino's writer; pino-roll's for a rotated file): asynchronous, with
// a bounded buffer whose overflow is dropped and counted, so a slow or full disk never stalls the
// relay nor crashes the daemon.
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { SonicBoom as Boom } from 'sonic-boom';
import type { FlowLogConfig } from '../model/config.js';
import type { Logger } from './logger.js';

// sonic-boom is CommonJS whose types declare an ES default export: take the class as Node gives it
const SonicBoom = createRequire(import.meta.url)('sonic-boom') as typeof Boom;

/** every field of a record, in order: AWS's version 2 default format, then vpcep-sim's */
export const FLOW_LOG_FIELDS = [
  'version', 'account-id', 'interface-id', 'srcaddr', 'dstaddr', 'srcport', 'dstport', 'protocol',
  'packets', 'bytes', 'start', 'end', 'action', 'log-status',
  'vpcep-endpoint-id', 'vpcep-snat-addr', 'vpcep-snat-port', 'vpcep-reason',
] as const;
/** the record format as AWS writes a custom one (LogFormat) */
export const FLOW_LOG_FORMAT = FLOW_LOG_FIELDS.map((f) => `\${${f}}`).join(' ');

/** Where the records of one endpoint come from: fields that do not change per connection ('-': none). */
export interface FlowOrigin {
  readonly account: string;
  readonly iface: string;
  readonly endpoint: string;
  readonly snatAddr: string;
}

export function flowOrigin(o: { account?: string; iface?: string; endpoint?: string; snatAddr?: string }): FlowOrigin {
  return { account: o.account || '-', iface: o.iface || '-', endpoint: o.endpoint || '-', snatAddr: o.snatAddr || '-' };
}

/** what a flow log reads of a live connection (the data plane's LiveConnection) */
export interface FlowConnection {
  /** the SNAT source port the backend sees (0: none yet): the pool's, another of it after a retry, or the kernel's choice */
  readonly sourcePort: number;
  readonly receivedBytes: number;
  readonly sentBytes: number;
  readonly closeReason: string | null;
}

/** one admitted connection's record state: its ends and what the last record counted */
class Flow {
  windowStart: number;
  received: number;
  sent: number;
  failure: string | null;
  constructor(
    readonly origin: FlowOrigin, readonly src: string, readonly srcPort: number, readonly dst: string,
    readonly dstPort: number, readonly snat: boolean, now: number,
  ) {
    this.windowStart = now;
    this.received = 0;
    this.sent = 0;
    this.failure = null;
  }
}

export interface FlowLogWriter {
  /** queues text (whole records); false: dropped (the buffer is full) */
  write(text: string): void;
  /** writes what is queued, then closes (a file) or lets go (stdout) */
  close(): Promise<void>;
}

export interface FlowLogOptions {
  readonly aggregationIntervalS: number;
  /** the data plane's clock (ms): connection times and intervals are read on it */
  readonly now: () => number;
  readonly writer: FlowLogWriter;
}

export class FlowLog {
  /** records made, and those of them dropped (the writer's buffer was full), for the metrics */
  records = 0;
  dropped = 0;
  private readonly flows = new Map<FlowConnection, Flow>();
  private readonly now: () => number;
  /** epoch ms minus the data plane's clock, taken once: record times are Unix seconds */
  private readonly epochOffset: number;
  private readonly intervalMs: number;
  private readonly writer: FlowLogWriter;

  constructor(o: FlowLogOptions) {
    this.now = o.now;
    this.epochOffset = Date.now() - o.now();
    this.intervalMs = o.aggregationIntervalS * 1000;
    this.writer = o.writer;
  }

  /** a client refused before any relaying: one record, REJECT, nothing read from it */
  rejected(origin: FlowOrigin, src: string, srcPort: number, dst: string, dstPort: number, reason: string): void {
    const t = this.seconds(this.now());
    this.records++;
    this.writer.write(record(origin, src, dst, srcPort, dstPort, 0, t, t, 'REJECT', '-', reason));
  }

  /**
   * an admitted connection: its records follow at each interval and when it closes; SNAT: its
   * source is translated (an interface endpoint's), the records name the port it has then
   */
  opened(conn: FlowConnection, origin: FlowOrigin, src: string, srcPort: number, dst: string, dstPort: number, snat: boolean): void {
    this.flows.set(conn, new Flow(origin, src, srcPort, dst, dstPort, snat, this.now()));
  }

  /** its backend could not be reached: the close gives one REJECT record with this reason */
  failed(conn: FlowConnection, reason: string): void {
    const f = this.flows.get(conn);
    if (f) f.failure = reason;
  }

  closed(conn: FlowConnection): void {
    const f = this.flows.get(conn);
    if (!f) return;
    this.flows.delete(conn);
    const now = this.now();
    if (f.failure !== null) {
      const t = this.seconds(now);
      this.records++;
      // the port its connect went out from: the backend saw its SYN
      this.writer.write(record(f.origin, f.src, f.dst, f.srcPort, f.dstPort, conn.receivedBytes - f.received, this.seconds(f.windowStart), t, 'REJECT', snatPortOf(f, conn), f.failure));
      return;
    }
    this.emit(f, conn, now, conn.closeReason ?? 'done');
  }

  /** records for each connection open for a whole aggregation interval since its last record */
  sweep(now: number): void {
    for (const [conn, f] of this.flows) {
      if (f.failure === null && now - f.windowStart >= this.intervalMs) this.emit(f, conn, now, '-');
    }
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  /** both directions' records of the window that ends now */
  private emit(f: Flow, conn: FlowConnection, now: number, reason: string): void {
    const received = conn.receivedBytes;
    const sent = conn.sentBytes;
    const start = this.seconds(f.windowStart);
    const end = this.seconds(now);
    const port = snatPortOf(f, conn);
    this.records += 2;
    this.writer.write(
      record(f.origin, f.src, f.dst, f.srcPort, f.dstPort, received - f.received, start, end, 'ACCEPT', port, reason)
      + record(f.origin, f.dst, f.src, f.dstPort, f.srcPort, sent - f.sent, start, end, 'ACCEPT', port, reason),
    );
    f.windowStart = now;
    f.received = received;
    f.sent = sent;
  }

  private seconds(t: number): number {
    return Math.floor((t + this.epochOffset) / 1000);
  }
}

/** one record: packets are unknown to both relays ('-', as AWS writes a value it cannot compute); protocol 6 (TCP) */
/** the vpcep-snat-port field: the port the connection has now, read when its record is written */
function snatPortOf(f: Flow, conn: FlowConnection): string {
  return f.snat && conn.sourcePort > 0 ? String(conn.sourcePort) : '-';
}

function record(o: FlowOrigin, src: string, dst: string, srcPort: number, dstPort: number, bytes: number, start: number, end: number, action: string, snatPort: string, reason: string): string {
  return `2 ${o.account} ${o.iface} ${src} ${dst} ${srcPort} ${dstPort} 6 - ${bytes} ${start} ${end} ${action} OK ${o.endpoint} ${o.snatAddr} ${snatPort} ${reason}\n`;
}

/**
 * Removes the flow log files of BASE (BASE.N.EXT, pino-roll's names) but the current one, the highest
 * N, and the KEEP before it: the files of every run and of every rotation, its own attempts that
 * failed included. Run when a file is opened (the start, each rotation), one at a time.
 */
function rotatedFilesTrimmer(base: string, ext: string, keep: number, log: Logger): () => void {
  const dir = path.dirname(base);
  const name = new RegExp(`^${escapeRegExp(path.basename(base))}\\.(\\d+)${escapeRegExp(ext)}$`);
  let running: Promise<void> | null = null;
  let again = false;
  const trim = async () => {
    const numbered: [number, string][] = [];
    for (const f of await fs.promises.readdir(dir)) {
      const m = name.exec(f);
      if (m) numbered.push([Number(m[1]), f]);
    }
    numbered.sort((a, b) => b[0] - a[0]);
    for (const [, f] of numbered.slice(keep + 1)) {
      try {
        await fs.promises.unlink(path.join(dir, f));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code !== 'ENOENT') log.warn({ err: { code: e.code, message: e.message }, file: path.join(dir, f) }, 'flow logs: cannot remove a file beyond max_files; tried again at the next rotation');
      }
    }
  };
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = trim()
      .catch((err: NodeJS.ErrnoException) => log.warn({ err: { code: err.code, message: err.message }, dir }, 'flow logs: cannot list the directory to remove files beyond max_files'))
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return run;
}

/**
 * The file open for writing, removed under the daemon (its directory deleted, a careless clean-up):
 * writes still succeed, into a file no one can open again, until the next rotation, which with the
 * default max_file_bytes may be days away. Checked each tick (one fstat): once its last link is
 * gone, `removed` is called, once.
 */
function removalCheck(boom: Boom, removed: () => void): () => void {
  // SonicBoom's field its types leave out: the descriptor written
  const stream = boom as Boom & { readonly fd: number };
  let checking = false;
  let gone = false;
  return () => {
    if (checking || gone || stream.fd < 0) return;
    checking = true;
    fs.fstat(stream.fd, (err, st) => {
      checking = false;
      if (err || st.nlink > 0 || gone) return;
      gone = true;
      removed();
    });
  };
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir never returns where mkdir(2) answers
 * ENOENT below a directory that exists (/proc, /sys): it spins a thread of the pool at full CPU for
 * good, and the file is never opened nor its failure reported.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await fs.promises.mkdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return; // a file there fails the open, with its reason
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    await makeDirectory(parent);
    await fs.promises.mkdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}

/** the records (lines) in a batch */
function recordsIn(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(NEWLINE); i !== -1; i = data.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** records are handed to the writer once this many bytes wait, or at the latest every FLOW_LOG_FLUSH_MS */
const FLOW_LOG_BATCH_BYTES = 16_384;
const FLOW_LOG_FLUSH_MS = 1_000;
const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/** the flow log of the config, its writer open; null when flow logs are off */
export async function openFlowLog(c: FlowLogConfig, dataDir: string, log: Logger, now: () => number): Promise<FlowLog | null> {
  if (c.destination === 'off') return null;
  let flowLog: FlowLog | null = null;
  // nothing is written, so nothing dropped, before the flow log exists
  const writer = await openFlowLogWriter(c, dataDir, log, (n) => { flowLog!.dropped += n; });
  flowLog = new FlowLog({ aggregationIntervalS: c.aggregationIntervalS, now, writer });
  log.info({ destination: c.destination, file: c.destination === 'file' ? path.resolve(dataDir, c.file) : undefined, format: FLOW_LOG_FORMAT }, 'flow logs on');
  return flowLog;
}

/**
 * The writer of a flow log's destination: stdout, or a file rotated by size and/or time
 * (pino-roll: FILE.1.log, FILE.2.log, ... for FILE.log, the oldest removed past maxFiles).
 * Records are copied into Buffers of FLOW_LOG_BATCH_BYTES at most, handed over when full or every
 * FLOW_LOG_FLUSH_MS: a write(2), even a SonicBoom write, per record would cost the relay more
 * than the record. The batches wait here, bounded by bufferBytes, and go to the SonicBoom one at a
 * time, the next once it has written the one before: pino-roll rotates on the SonicBoom's 'drain',
 * which a backlog handed over at once (after a full disk) delays to its end, one file taking it all
 * and every rotation it owed made after it, empty. `onDrop(n)`: n records did not fit the buffer,
 * or found no file open. Write errors (a full disk) are logged, at most once a minute; SonicBoom
 * keeps what failed, and it is tried again every tick. A file that cannot be opened (its directory
 * not writable, a file in the way), or opened again once removed, is logged the same way and tried
 * again every tick; until it opens, each batch is dropped and counted.
 */
export async function openFlowLogWriter(c: FlowLogConfig, dataDir: string, log: Logger, onDrop: (records: number) => void): Promise<FlowLogWriter> {
  // batches are Buffers: a string given to write(2) is encoded again, which costs more than the records to build
  const boom = { sync: false, maxLength: c.bufferBytes, contentMode: 'buffer' as const };
  let stream: Boom | null = null;
  let checkRemoved: (() => void) | null = null;
  let closed = false;
  let lastError = 0;
  let errors = 0;
  /** a failed write or open: logged at most once a minute, with the failures since */
  const failed = (err: NodeJS.ErrnoException, msg: string) => {
    errors++;
    const now = Date.now();
    if (now - lastError < 60_000) return;
    lastError = now;
    log.error({ err: { code: err.code, message: err.message }, errors }, msg);
    errors = 0;
  };
  // contentMode 'buffer' takes Buffers (SonicBoom's types know strings only)
  const write = (s: Boom, b: Buffer) => (s.write as unknown as (b: Buffer) => boolean).call(s, b);
  /** batches handed over, not yet written: the one the SonicBoom writes, then those waiting */
  const waiting: Buffer[] = [];
  let waitingBytes = 0;
  let writing: Buffer | null = null;
  /** the SonicBoom's last write failed: it holds what failed until written */
  let writeFailed = false;
  const next = () => {
    if (writing || !stream || waiting.length === 0) return;
    writing = waiting.shift()!;
    write(stream, writing);
  };
  const adopt = (s: Boom) => {
    stream = s;
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (s === stream) writeFailed = true;
      failed(err, 'flow logs: cannot write; records wait in the buffer, then are dropped (vpcep_flow_log_dropped_records_total)');
    });
    s.on('write', () => { if (s === stream) writeFailed = false; });
    s.on('drain', () => {
      if (s !== stream || !writing) return;
      waitingBytes -= writing.length;
      writing = null;
      // on the next tick: pino-roll's rotation, on this same 'drain', goes first
      process.nextTick(next);
    });
    s.on('drop', (data: Buffer) => onDrop(recordsIn(data)));
    next();
  };
  /**
   * the file was removed: what it was writing is lost with it; what waits goes to the file made
   * again, or is dropped and counted when there is none
   */
  const letGo = (old: Boom, again: Boom | null) => {
    stream = null;
    checkRemoved = null;
    writeFailed = false;
    if (writing) waitingBytes -= writing.length;
    writing = null;
    if (!again) {
      for (const b of waiting.splice(0)) {
        waitingBytes -= b.length;
        onDrop(recordsIn(b));
      }
    }
    old.end();
  };
  let openFile: (() => void) | null = null;
  if (c.destination === 'stdout') {
    adopt(new SonicBoom({ fd: 1, ...boom }));
  } else {
    const file = path.resolve(dataDir, c.file);
    const ext = path.extname(file);
    const base = ext ? file.slice(0, -ext.length) : file;
    // loaded here, not at start-up: pino-roll and date-fns cost every start 0.1 s of CPU (issue 16)
    const { default: pinoRoll } = await import('pino-roll');
    // the files beyond max_files are removed here, not by pino-roll's limit: that one counts only the
    // files this run made and forgets a file it failed to remove, so every restart, and every
    // rotation on a read-only or vanished directory, left its files on the disk for good
    const trim = rotatedFilesTrimmer(base, ext, c.maxFiles, log);
    let opening: Promise<void> | null = null;
    let failures = 0;
    /** a new pino-roll on the file, open; null: it cannot be opened (logged) */
    const attempt = async (): Promise<Boom | null> => {
      let s: Boom | null = null;
      try {
        await makeDirectory(path.dirname(file));
        s = await pinoRoll({
          file: base,
          extension: ext || undefined,
          size: `${c.maxFileBytes}b`,
          frequency: c.rotateEvery === 'never' ? undefined : c.rotateEvery,
          ...boom,
        });
        await once(s, 'ready');
        return s;
      } catch (err) {
        // a SonicBoom that never opened never closes: its 'close' is what stops pino-roll's rotation timer
        s?.emit('close');
        failures++;
        failed(err as NodeJS.ErrnoException, 'flow logs: cannot open the file; records are dropped (vpcep_flow_log_dropped_records_total) and the file tried again every second');
        return null;
      }
    };
    const use = (s: Boom) => {
      if (failures > 0) log.info({ file: (s as Boom & { file: string }).file, failures }, 'flow logs: the file is open');
      failures = 0;
      adopt(s);
      s.on('ready', trim);
      trim();
      checkRemoved = removalCheck(s, () => removed(s));
      if (closed) s.end();
    };
    // until the new file is open, the removed one takes the records: that second's are lost with it
    const removed = (old: Boom) => {
      log.warn({ file: (old as Boom & { file: string }).file }, 'flow logs: the file was removed while written (or its directory); opening it again');
      opening = attempt().then((s) => {
        if (stream === old && !closed) letGo(old, s); // closed: close() ended it
        if (s) use(s);
      }).finally(() => { opening = null; });
    };
    openFile = () => {
      if (stream || opening) return;
      opening = attempt().then((s) => { if (s) use(s); }).finally(() => { opening = null; });
    };
    openFile();
    await opening;
  }
  const handOver = (b: Buffer) => {
    if (!stream || waitingBytes + b.length > c.bufferBytes) return void onDrop(recordsIn(b));
    waiting.push(b);
    waitingBytes += b.length;
    next();
  };
  // Records are ASCII: a string's length is its size in bytes.
  let batch = Buffer.allocUnsafe(FLOW_LOG_BATCH_BYTES);
  let used = 0;
  const handOverBatch = () => {
    const full = batch.subarray(0, used);
    batch = Buffer.allocUnsafe(FLOW_LOG_BATCH_BYTES);
    used = 0;
    handOver(full);
  };
  // every tick: what waits; after a failed write, an empty write, which starts SonicBoom's retry of
  // what failed; a file not open is tried again
  const ticker = setInterval(() => {
    openFile?.();
    if (used > 0) handOverBatch();
    if (writeFailed && stream) write(stream, EMPTY);
    checkRemoved?.();
  }, FLOW_LOG_FLUSH_MS).unref();
  return {
    write(text) {
      if (closed) return;
      if (used + text.length > FLOW_LOG_BATCH_BYTES) {
        if (used > 0) handOverBatch();
        // a text longer than a batch (never a record pair) goes as it is
        if (text.length > FLOW_LOG_BATCH_BYTES) return void handOver(Buffer.from(text, 'latin1'));
      }
      used += batch.write(text, used, 'latin1');
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      clearInterval(ticker);
      if (used > 0) handOverBatch();
      const s = stream;
      if (!s) return Promise.resolve();
      // what waits goes at once: the shutdown waits for no rotation (the last file may pass max_file_bytes by it)
      for (const b of waiting.splice(0)) write(s, b);
      return new Promise<void>((resolve) => {
        // a stuck disk must not hold the shutdown: what is not written in 2 s is lost
        const timer = setTimeout(resolve, 2_000).unref();
        const done = () => { clearTimeout(timer); resolve(); };
        s.once('close', done);
        s.once('error', done);
        s.end(); // SonicBoom never closes fd 1
      });
    },
  };
}
