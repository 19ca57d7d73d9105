// Why a socket could not listen, in words an operator can act on: one wording for the data
// plane's listeners, the API, Toxiproxy's API and the DNS server, so that an unprivileged user
// meets the same fix (a port below 1024 needs root or CAP_NET_BIND_SERVICE) wherever it binds.

/** the fix for a port below 1024 that an unprivileged process may not bind */
export const PRIVILEGED_PORT_FIX = 'ports below 1024 need root or CAP_NET_BIND_SERVICE '
  + '(e.g. `sudo setcap cap_net_bind_service=+ep "$(command -v node)"`), or use a port above 1023';

/**
 * the fix for a port of 1024 or above refused all the same: the kernel's line between privileged
 * and unprivileged ports is the sysctl net.ipv4.ip_unprivileged_port_start (1024 by default),
 * raised on this host or network namespace
 */
export const RAISED_PORT_START_FIX = 'ports below net.ipv4.ip_unprivileged_port_start (raised above 1024 here: '
  + '`sysctl net.ipv4.ip_unprivileged_port_start`) need root or CAP_NET_BIND_SERVICE '
  + '(e.g. `sudo setcap cap_net_bind_service=+ep "$(command -v node)"`), or lower that sysctl, or use a port at or above it';

/** the reason of a bind or listen error on PORT, and whether it is a privileged port refused */
export function listenReason(err: unknown, port: number): { readonly privileged: boolean; readonly text: string } {
  const e = err as NodeJS.ErrnoException;
  // the kernel refuses an inet bind with EACCES only for a port below ip_unprivileged_port_start
  // (a security module aside): from 1024 up, that sysctl was raised
  if (e.code === 'EACCES' && port > 0) {
    return { privileged: true, text: `permission denied: ${port < 1024 ? PRIVILEGED_PORT_FIX : RAISED_PORT_START_FIX}` };
  }
  const why = e.code === 'EADDRINUSE' ? ' (address in use: another process, or another vpcepd on this host or network namespace)'
    : e.code === 'EACCES' ? ' (permission denied)'
      : e.code === 'EADDRNOTAVAIL' ? ' (address not available)' : '';
  return { privileged: false, text: `${e.code ?? e.message}${why}` };
}

/** A listener of the daemon's own (the API, Toxiproxy's API) that cannot bind: a one-line start-up error, the errno code kept. */
export class ListenError extends Error {
  readonly code: string | undefined;
  /** SETTING: the key or flag that names the address; WHAT: the listener's purpose */
  constructor(err: unknown, host: string, port: number, setting: string, what: string) {
    super(`${setting}: cannot listen on ${host}:${port} for ${what}: ${listenReason(err, port).text}`);
    this.name = 'ListenError';
    this.code = (err as NodeJS.ErrnoException).code;
  }
}
