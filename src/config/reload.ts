// What a config reload (SIGHUP) may change while the daemon runs, and what needs a restart.
import type { Config } from '../model/config.js';

/** the keys a reload applies in place; any other change is refused, naming the keys */
export const RELOADABLE = ['metrics.token', 'dataplane.drain_timeout_ms'] as const;

/** a config field's name as in the file (`drainTimeoutMs` -> `drain_timeout_ms`) */
export const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** the fields whose name in the file is not their snake_case (model/config.ts) */
const FILE_NAMES: Readonly<Record<string, string>> = {
  'dataplane.unhealthy_termination': 'dataplane.unhealthy_connection_termination',
};

/** every leaf of a config section as `section.key`, and every other section by its name, as in the file (snake_case) -> its JSON */
function leaves(c: Config): Map<string, string> {
  const out = new Map<string, string>();
  for (const [section, value] of Object.entries(c)) {
    const flat = section === 'dataplane' || section === 'api' || section === 'metrics';
    if (flat && value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as object)) {
        const key = `${section}.${snake(k)}`;
        out.set(FILE_NAMES[key] ?? key, JSON.stringify(v));
      }
    } else {
      out.set(snake(section), JSON.stringify(value));
    }
  }
  return out;
}

/** the keys that differ between the running config and the new one, split by whether a reload may apply them */
export function configChanges(running: Config, next: Config, ignore: readonly string[] = []): { reloadable: string[]; restart: string[] } {
  const a = leaves(running);
  const b = leaves(next);
  const changed = [...new Set([...a.keys(), ...b.keys()])].filter((k) => !ignore.includes(k) && a.get(k) !== b.get(k)).sort();
  const ok = new Set<string>(RELOADABLE);
  return { reloadable: changed.filter((k) => ok.has(k)), restart: changed.filter((k) => !ok.has(k)) };
}
