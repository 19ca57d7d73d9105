// The process's open-file limit, which the data plane budgets: each relayed connection holds two
// descriptors, each open listener one, the native relay keeps empty pipes for reuse, and a reserve
// stays free for the API, the store and the logs (the data plane's fdReserve option, FD_RESERVE
// by default).
import fs from 'node:fs';

/** descriptors kept free for the API, the store and the logs */
export const FD_RESERVE = 256;

/** the daemon's own descriptors besides API sockets: the store and its WAL, logs, epoll, eventfds */
const OWN_FDS = 64;

/** the reserve when the API may hold up to API_CONNECTIONS sockets (api.max_connections) */
export function fdReserveFor(apiConnections: number): number {
  return Math.max(FD_RESERVE, apiConnections + OWN_FDS);
}

/** the soft limit on open files of this process, from /proc (Node has no getrlimit) */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m && m[1] !== 'unlimited') return Number(m[1]);
  } catch { /* not Linux: no limit known */ }
  return 1_048_576;
}
