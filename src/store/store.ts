// The persistence boundary. The control plane keeps its working state in memory and writes every
// mutation through this interface as one atomic batch before it answers. SQLite implements it
// now; the shape (kinds of keyed JSON documents, atomic multi-key commits) is what a distributed
// store such as etcd offers too (a key per `kind/id`, a transaction per commit).

export type Kind = 'meta' | 'account' | 'vpc' | 'service' | 'endpoint' | 'routetable' | 'loadbalancer' | 'targetgroup' | 'apivpc' | 'securitygroup' | 'notification';
export const KINDS: readonly Kind[] = ['meta', 'account', 'vpc', 'service', 'endpoint', 'routetable', 'loadbalancer', 'targetgroup', 'apivpc', 'securitygroup', 'notification'];

/** A write of one document; `value: null` deletes it. */
export interface Change {
  readonly kind: Kind;
  readonly id: string;
  readonly value: unknown;
}

export type Snapshot = ReadonlyMap<Kind, ReadonlyMap<string, unknown>>;

export interface Store {
  /** where the data lives, for messages */
  readonly location: string;
  /** every document, by kind and id */
  load(): Promise<Snapshot>;
  /** applies every change or none; durable when the promise resolves */
  commit(changes: readonly Change[]): Promise<void>;
  close(): Promise<void>;
}

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
