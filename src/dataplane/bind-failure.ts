// Why a listener could not bind, in words an operator can act on, and its kind for the error code.
import type { ListenFailure } from '../model/events.js';
import { listenReason } from '../net/listen-error.js';

export interface BindFailure {
  readonly reason: string;
  readonly failure: ListenFailure;
}

/** a bind error (err.code EACCES, EADDRINUSE, ...) on host:port, for WHAT (e.g. "a public service") */
export function bindFailure(err: unknown, host: string, port: number, what?: string): BindFailure {
  const { privileged, text } = listenReason(err, port);
  return { failure: privileged ? 'privileged_port' : 'listen_failed', reason: `cannot listen on ${host}:${port}${what ? ` for ${what}` : ''}: ${text}` };
}
