// Why a listener could not bind, in words an operator can act on, and its kind for the error code.
import type { ListenFailure } from '../model/events.js';

export interface BindFailure {
  readonly reason: string;
  readonly failure: ListenFailure;
}

/** a bind error (err.code EACCES, EADDRINUSE, ...) on host:port, for WHAT (e.g. "a public service") */
export function bindFailure(err: unknown, host: string, port: number, what?: string): BindFailure {
  const e = err as NodeJS.ErrnoException;
  const where = `cannot listen on ${host}:${port}${what ? ` for ${what}` : ''}`;
  if (e.code === 'EACCES' && port < 1024) {
    return {
      failure: 'privileged_port',
      reason: `${where}: permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE `
        + '(e.g. `sudo setcap cap_net_bind_service=+ep "$(command -v node)"`), or use a port above 1023',
    };
  }
  const why = e.code === 'EADDRINUSE' ? ' (address in use: another process, or another vpcepd on this host or network namespace)'
    : e.code === 'EACCES' ? ' (permission denied)'
      : e.code === 'EADDRNOTAVAIL' ? ' (address not available)' : '';
  return { failure: 'listen_failed', reason: `${where}: ${e.code ?? e.message}${why}` };
}
