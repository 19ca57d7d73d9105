// SNAT addresses and ports. 000_9af245a83013c30f.txt 1.7: backends see endpoint traffic from
// 198.19.128.0/17. Each endpoint owns one address of that range; its connections take source
// ports from it.
import { intToIp, lastAddress, SNAT_RANGE } from './cidr.js';

/** The lowest address of 198.19.128.0/17 not in `used` (never the network or broadcast address), or null. */
export function allocateSnatIp(used: ReadonlySet<string>): string | null {
  const last = lastAddress(SNAT_RANGE);
  for (let ip = SNAT_RANGE.base + 1; ip < last; ip++) {
    const text = intToIp(ip);
    if (!used.has(text)) return text;
  }
  return null;
}

/**
 * The source ports of one SNAT address, handed out and taken back in O(1), first in first out:
 * a port comes back into use as late as possible, long after its TIME_WAIT on the backend side.
 */
export class SnatPortPool {
  private readonly ring: Uint16Array;
  private head = 0;
  private free: number;

  constructor(readonly low = 1024, readonly high = 65535) {
    this.ring = new Uint16Array(high - low + 1);
    for (let i = 0; i < this.ring.length; i++) this.ring[i] = low + i;
    this.free = this.ring.length;
  }

  /** ports left to take */
  get left(): number {
    return this.free;
  }

  get inUse(): number {
    return this.ring.length - this.free;
  }

  /** a free port, or 0 when every port is taken */
  take(): number {
    if (this.free === 0) return 0;
    const port = this.ring[this.head]!;
    this.head = (this.head + 1) % this.ring.length;
    this.free--;
    return port;
  }

  give(port: number): void {
    this.ring[(this.head + this.free) % this.ring.length] = port;
    this.free++;
  }
}
