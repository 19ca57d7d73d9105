// The boundary to the native relay (native/relay.cc, built by node-gyp into build/Release): loaded
// lazily on first use, absent when the addon is not built (the JS relay runs then). Which relay
// runs is chosen by VPCEP_RELAY: js | native | auto (default: native when the addon loads).
import { createRequire } from 'node:module';

export type RelayKind = 'js' | 'native';

/** a connection handed over to the native relay: told once when both sockets are closed */
export interface RelayedConnection {
  relayClosed(received: number, sent: number, reason: string): void;
}

/** the addon's surface (native/relay.cc) */
interface Addon {
  init(onClose: (id: number, received: number, sent: number, reason: string) => void, threads?: number): number;
  open(clientFd: number, backendFd: number, preamble: Buffer | null): number;
  cut(id: number): void;
  close(id: number): void;
  stats(id: number): [received: number, sent: number, idleMs: number] | undefined;
  touched(id: number): boolean;
}

export class NativeRelay {
  readonly threads: number;
  private readonly addon: Addon;
  private readonly connections = new Map<number, RelayedConnection>();

  constructor(addon: Addon, threads: number) {
    this.addon = addon;
    this.threads = addon.init((id, received, sent, reason) => this.closed(id, received, sent, reason), threads);
  }

  /**
   * Takes over a connection: the relay dups both fds (the caller then destroys its sockets) and
   * writes `preamble` to the backend before any payload. Returns the relay's id, or 0 when it
   * cannot take it (no descriptor left: the caller keeps relaying in JS).
   */
  open(clientFd: number, backendFd: number, preamble: Buffer | null, conn: RelayedConnection): number {
    const id = this.addon.open(clientFd, backendFd, preamble);
    if (id !== 0) this.connections.set(id, conn);
    return id;
  }

  /** resets both sockets; relayClosed() follows */
  cut(id: number): void {
    this.addon.cut(id);
  }

  /** closes both sockets gracefully (idle timeout); relayClosed() follows */
  close(id: number): void {
    this.addon.close(id);
  }

  /** did the connection move bytes since the last call (read and cleared) */
  touched(id: number): boolean {
    return this.addon.touched(id);
  }

  /** bytes from the client and to the client so far, or null once closed */
  bytes(id: number): { received: number; sent: number } | null {
    const s = this.addon.stats(id);
    return s ? { received: s[0], sent: s[1] } : null;
  }

  get size(): number {
    return this.connections.size;
  }

  private closed(id: number, received: number, sent: number, reason: string): void {
    const conn = this.connections.get(id);
    if (!conn) return;
    this.connections.delete(id);
    conn.relayClosed(received, sent, reason);
  }
}

export interface RelayChoice {
  readonly relay: RelayKind;
  /** why, for the start-up log line */
  readonly why: string;
}

let loaded: NativeRelay | null | undefined;
let loadError = '';
let choice: RelayChoice | undefined;
let active: NativeRelay | null = null;

/** the native relay, loaded on first call; null when the addon is not built or fails to load */
export function loadNativeRelay(): NativeRelay | null {
  if (loaded !== undefined) return loaded;
  try {
    const addon = createRequire(import.meta.url)('../../build/Release/vpcep_relay.node') as Addon;
    loaded = new NativeRelay(addon, Number(process.env.VPCEP_RELAY_THREADS ?? 0) || 0);
  } catch (err) {
    loaded = null;
    loadError = (err as Error).message.split('\n')[0] ?? 'cannot load';
  }
  return loaded;
}

/**
 * Chooses the relay from VPCEP_RELAY (js | native | auto; auto: native when the addon loads).
 * The daemon calls it at start-up and logs the answer; new connections use the latest choice.
 * `native` without the addon falls back to js (with the reason), never fails the start.
 */
export function selectRelay(setting: string | undefined = process.env.VPCEP_RELAY): RelayChoice {
  const want = (setting ?? 'auto').trim().toLowerCase() || 'auto';
  if (want === 'js') {
    active = null;
    choice = { relay: 'js', why: 'VPCEP_RELAY=js' };
  } else {
    const relay = loadNativeRelay();
    active = relay;
    const unknown = want !== 'native' && want !== 'auto' ? ` (unknown VPCEP_RELAY=${setting}: auto)` : '';
    choice = relay
      ? { relay: 'native', why: `splice(2) relay on ${relay.threads} thread(s)${unknown}` }
      : { relay: 'js', why: `native relay not available: ${loadError}${unknown}` };
  }
  return choice;
}

/** the relay for a new connection: the native one, or null for the JS relay */
export function activeRelay(): NativeRelay | null {
  if (choice === undefined) selectRelay();
  return active;
}

/** the current choice (selected from the environment on first use) */
export function relayChoice(): RelayChoice {
  if (choice === undefined) selectRelay();
  return choice!;
}
