// One SNAT port pool per endpoint with the native relay's fast path on: the relay threads' pool of
// the endpoint's handle (native/relay.cc FastPorts, the order of src/net/snat-pool.ts), which the
// event loop's connections of the endpoint take from too. Two pools, each handing out the lowest
// ports first, gave one port to both paths within a second: the second connect to the same
// backend met the first one's TIME_WAIT (EADDRNOTAVAIL) and its client was reset.
import type { NativeRelay } from './native-relay.js';

/** what an endpoint's connections take their source ports from (SnatPortPool's shape) */
export interface SnatPorts {
  /** a free port, or 0 when every port is taken */
  take(): number;
  give(port: number): void;
  readonly inUse: number;
  readonly left: number;
}

/** the threads' pool of one endpoint handle, seen from the event loop */
export class ThreadSnatPorts implements SnatPorts {
  private readonly size: number;

  constructor(private readonly relay: NativeRelay, private readonly handle: number, low: number, high: number) {
    this.size = Math.max(0, Math.min(65535, high) - Math.max(1, low) + 1);
  }

  take(): number {
    return this.relay.fastPortTake(this.handle);
  }

  give(port: number): void {
    if (port !== 0) this.relay.fastPortGive(this.handle, port);
  }

  /** ports held, by the threads' connections and the event loop's alike */
  get inUse(): number {
    return this.relay.fastEndpointStats(this.handle)?.snatPortsInUse ?? 0;
  }

  get left(): number {
    return this.size - this.inUse;
  }
}
