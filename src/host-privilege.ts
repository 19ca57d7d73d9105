// What the process may do against the host's own limits. The kernel weighs those (the pipe quota)
// with capable(), against the initial user namespace: a process in a user namespace of its own
// (`unshare -r`, a rootless container) shows every capability in CapEff, yet is bound like the
// user who made the namespace.
import fs from 'node:fs';

/** capability numbers, as in linux/capability.h */
export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;
export const CAP_SYS_RESOURCE = 24;

/** true when this process runs in the initial user namespace: its uid_map is the identity "0 0 4294967295" (or unreadable: not Linux) */
export function inInitialUserNamespace(): boolean {
  let map: string;
  try {
    map = fs.readFileSync('/proc/self/uid_map', 'utf8');
  } catch {
    return true;
  }
  return map.trim().split(/\s+/).join(' ') === '0 0 4294967295';
}

/**
 * true when the process holds CAP in its own user namespace (CapEff): what the kernel asks of it
 * for its network namespace (CAP_NET_ADMIN, CAP_NET_BIND_SERVICE), made in that user namespace
 */
export function holdsCapability(cap: number): boolean {
  let status = '';
  try {
    status = fs.readFileSync('/proc/self/status', 'utf8');
  } catch { /* not Linux */ }
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  return capEff !== undefined && (BigInt(`0x${capEff}`) & (1n << BigInt(cap))) !== 0n;
}

/** true when the process holds one of CAPS in the initial user namespace (its CapEff, outside a user namespace of its own) */
export function hostCapable(...caps: number[]): boolean {
  return inInitialUserNamespace() && caps.some(holdsCapability);
}
