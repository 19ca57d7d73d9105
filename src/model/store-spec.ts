// Which store a daemon keeps its state in (issue 17): the embedded SQLite file of its data dir, or
// an etcd v3 cluster shared by several daemons. `--store` and the config key `store` take
// `sqlite` or `etcd://host:port[,host:port][/prefix]` (prefix: the keys' first segment, default vpcep).
export type StoreSpec =
  | { readonly kind: 'sqlite' }
  | { readonly kind: 'etcd'; readonly endpoints: readonly string[]; readonly prefix: string };

export const DEFAULT_ETCD_PREFIX = 'vpcep';

/**
 * What an acknowledged write survives on SQLite (config `store_durability`): `process`, a crash of
 * the daemon (SIGKILL, an abort: WAL with synchronous=NORMAL, the commit in the OS's page cache
 * before the answer, fsynced at checkpoints); `power`, also an OS crash or a power cut
 * (synchronous=FULL: fsynced before the answer). sqlite.org/pragma.html#pragma_synchronous
 */
export const STORE_DURABILITIES = ['process', 'power'] as const;
export type StoreDurability = (typeof STORE_DURABILITIES)[number];
/** SQLite's synchronous setting of each durability */
export const SQLITE_SYNCHRONOUS: Readonly<Record<StoreDurability, 'NORMAL' | 'FULL'>> = { process: 'NORMAL', power: 'FULL' };

/** the spec of TEXT, or a message saying what is wrong */
export function parseStoreSpec(text: string): StoreSpec | string {
  if (text === 'sqlite') return { kind: 'sqlite' };
  const m = /^etcd:\/\/([^/?#]+)(?:\/([A-Za-z0-9_-]{1,64})?)?$/.exec(text);
  if (!m) return `${JSON.stringify(text)} is neither sqlite nor etcd://host:port[,host:port][/prefix]`;
  const endpoints = m[1]!.split(',');
  for (const hp of endpoints) {
    const port = /^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(hp)?.[1];
    if (port === undefined || Number(port) < 1 || Number(port) > 65535) return `${JSON.stringify(hp)} in ${text} is not host:port`;
  }
  return { kind: 'etcd', endpoints, prefix: m[2] ?? DEFAULT_ETCD_PREFIX };
}

/** the spec as text, as the data dir records it */
export function storeSpecText(s: StoreSpec): string {
  return s.kind === 'sqlite' ? 'sqlite' : `etcd://${s.endpoints.join(',')}/${s.prefix}`;
}
