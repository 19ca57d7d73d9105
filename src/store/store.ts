// The persistence boundary. The control plane keeps its working state in memory and writes every
// mutation through this interface as one atomic batch before it answers. Two stores implement it:
// SQLite (sqlite.ts, the embedded default) and etcd v3 (etcd.ts, shared by several daemons).
//
// What a store shared by several writers needs (issue 17), modelled on etcd's MVCC:
// - a global revision, raised by each committed batch; a document's version is the revision of its
//   last write (0: absent);
// - commit(changes, expectations): compare-and-swap, all or nothing: every expectation names a key's
//   version (0: the key must be absent), and a batch whose expectation fails writes nothing and
//   rejects with StoreConflict naming the keys; a kind's expectation holds while no document of
//   that kind was written after a revision (a deletion that looked for dependents among them all);
// - watch(fromRevision): the committed batches after a revision, in order; when that revision is no
//   longer kept (compacted), or the store was reset under it (etcd restarted empty: its revisions
//   went back), the watcher is told so and lists again (load) and reconciles;
// - every document is stored with its schema version (DOCUMENT_SCHEMA) and checked on load.

export type Kind = 'meta' | 'account' | 'vpc' | 'service' | 'endpoint' | 'routetable' | 'loadbalancer' | 'targetgroup' | 'apivpc' | 'securitygroup' | 'internetgateway' | 'networkacl' | 'notification' | 'claim' | 'dnsrecord' | 'fault' | 'targethealth' | 'faultverdict';
export const KINDS: readonly Kind[] = ['meta', 'account', 'vpc', 'service', 'endpoint', 'routetable', 'loadbalancer', 'targetgroup', 'apivpc', 'securitygroup', 'internetgateway', 'networkacl', 'notification', 'claim', 'dnsrecord', 'fault', 'targethealth', 'faultverdict'];

/** the shape version every document is written with; a store refuses to load a document of a newer one */
export const DOCUMENT_SCHEMA = 1;

/** A write of one document; `value: null` deletes it. */
export interface Change {
  readonly kind: Kind;
  readonly id: string;
  readonly value: unknown;
}

/** A compare-and-swap condition of a commit: the key's version now (0: the key must be absent). */
export interface Expectation {
  readonly kind: Kind;
  readonly id: string;
  readonly version: number;
}

/**
 * A compare-and-swap condition on a whole kind: no document of KIND written after revision THROUGH,
 * the revision through which this writer has seen every batch (a deletion that found no dependents
 * among them). Deleted documents are not seen by it: a dependent gone is no dependent.
 */
export interface KindExpectation {
  readonly kind: Kind;
  readonly through: number;
}

export type Documents = ReadonlyMap<Kind, ReadonlyMap<string, unknown>>;

/** everything stored, as of one revision */
export interface Snapshot {
  readonly revision: number;
  readonly documents: Documents;
  /** the version of each document, by `kind/id` */
  readonly versions: ReadonlyMap<string, number>;
  /**
   * the store was reset since this daemon's last answer from it (etcd restarted empty, or restored
   * from an older backup): why. What the daemon knew that this listing lacks is gone from the store
   */
  readonly reset?: string;
}

/** one committed batch, as a watcher receives it */
export interface Batch {
  readonly revision: number;
  readonly changes: readonly Change[];
}

export interface WatchHandlers {
  /** each committed batch after the watch's revision, in revision order */
  batch(b: Batch): void;
  /** the revisions after the watch's are gone (compacted) or the stream was lost for good: list again and reconcile */
  compacted(reason: string): void;
}

export interface Watch {
  cancel(): Promise<void>;
}

/**
 * What a store and the control plane on it report as it happens (the store metrics, pushed at the
 * event: src/telemetry/store-metrics.ts). Each call is cheap: a counter or a histogram bucket.
 */
export interface StoreObserver {
  /** a commit the store answered: seconds from the call (a group commit's wait included), written or refused by an expectation */
  committed(seconds: number, outcome: 'written' | 'conflict'): void;
  /** one transaction written, holding BATCHES batches (SQLite groups those handed over while one is on its way to disk; etcd: 1) */
  transaction(batches: number): void;
  /** whether the store answered its last request (etcd lost: false) */
  reachable(up: boolean): void;
  /** a mutation run again after its batch lost a compare-and-swap (control/state.ts) */
  retried(): void;
  /** a committed batch of another writer applied from the watch (control/follow.ts) */
  watched(): void;
  /** listed again after a compaction or a lost watch (control/follow.ts) */
  relisted(): void;
}

export interface Store {
  /** where the data lives, for messages (the file, or etcd's addresses) */
  readonly location: string;
  /** reports commits, transactions and reachability from now on (metrics) */
  observe?(o: StoreObserver): void;
  /** every document with its version, and the snapshot's revision */
  load(): Promise<Snapshot>;
  /**
   * applies every change or none, when every expectation holds; durable when the promise resolves,
   * with the revision of the batch. A failed expectation rejects with StoreConflict. A store that
   * one daemon alone writes (SQLite) may ignore KINDS: nothing is written there that it has not seen.
   */
  commit(changes: readonly Change[], expectations?: readonly Expectation[], kinds?: readonly KindExpectation[]): Promise<number>;
  /** the batches committed after FROM (a revision of load() or of a batch), in order */
  watch(from: number, on: WatchHandlers): Watch;
  close(): Promise<void>;
}

export const keyOf = (kind: Kind, id: string): string => `${kind}/${id}`;

/** A store that cannot be opened or read: a clear start-up error, never a silent reset. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

/** A commit refused because the disk of the data dir is full; nothing of the batch was written. */
export class StoreFull extends Error {
  readonly dir: string;
  constructor(dir: string) {
    super(`the store is full: ${dir}`);
    this.name = 'StoreFull';
    this.dir = dir;
  }
}

/** A commit refused because an expectation failed: another writer changed (or made) these keys first. Nothing was written. */
export class StoreConflict extends Error {
  readonly keys: readonly string[];
  /** each changed key's version in the store when the commit lost (0: absent), where the store says (etcd) */
  readonly current: ReadonlyMap<string, number> | undefined;
  /** a kind's expectation failed: the revision of its newest document, which a watcher must have seen before trying again */
  readonly through: number | undefined;
  constructor(keys: readonly string[], current?: ReadonlyMap<string, number>, through?: number) {
    super(`the store changed under the commit: ${keys.join(', ')}`);
    this.name = 'StoreConflict';
    this.keys = keys;
    this.current = current;
    this.through = through;
  }
}

/** A commit that could not reach the store (etcd lost): nothing is known to be written. */
export class StoreUnavailable extends Error {
  constructor(location: string, cause: string) {
    super(`the store at ${location} is unreachable: ${cause}`);
    this.name = 'StoreUnavailable';
  }
}

/** a stored envelope's body, or a StoreError naming the document */
export function openEnvelope(location: string, kind: string, id: string, schema: number, body: string): unknown {
  if (!(KINDS as readonly string[]).includes(kind)) throw new StoreError(`${location}: unknown document kind ${JSON.stringify(kind)} (${kind}/${id})`);
  if (!Number.isInteger(schema) || schema < 1 || schema > DOCUMENT_SCHEMA) {
    throw new StoreError(`${location}: document ${kind}/${id} has schema version ${schema}, this vpcepd reads 1..${DOCUMENT_SCHEMA}; use a newer vpcepd`);
  }
  try {
    return JSON.parse(body);
  } catch {
    throw new StoreError(`${location}: document ${kind}/${id} is not valid JSON`);
  }
}

/** groups documents by kind, every kind present */
export function emptyDocuments(): Map<Kind, Map<string, unknown>> {
  return new Map(KINDS.map((k) => [k, new Map()]));
}

/**
 * SNAP with CHANGES applied, as a load() right after their commit at REVISION would return it
 * (values as read back: through JSON), or null when another writer may have committed in between
 * (the revision is not the next one): then load again. Spares a start a second load of every
 * document (issue 16: 5,000 endpoints and their claims).
 */
export function snapshotAfter(snap: Snapshot, changes: readonly Change[], revision: number): Snapshot | null {
  if (!changes.length) return snap;
  if (revision !== snap.revision + 1) return null;
  const documents = new Map(snap.documents);
  const versions = new Map(snap.versions);
  const copied = new Map<Kind, Map<string, unknown>>();
  for (const c of changes) {
    let docs = copied.get(c.kind);
    if (!docs) {
      docs = new Map(documents.get(c.kind) ?? []);
      copied.set(c.kind, docs);
      documents.set(c.kind, docs);
    }
    if (c.value === null) {
      docs.delete(c.id);
      versions.delete(keyOf(c.kind, c.id));
    } else {
      docs.set(c.id, JSON.parse(JSON.stringify(c.value)));
      versions.set(keyOf(c.kind, c.id), revision);
    }
  }
  return { revision, documents, versions };
}
