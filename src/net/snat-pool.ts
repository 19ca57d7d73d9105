// SNAT addresses and ports. 000_9af245a83013c30f.txt 1.7: backends see endpoint traffic from
// 198.19.128.0/17. Each endpoint owns one address of that range; its connections take source
// ports from it.
import { intToIp, ipToInt, lastAddress, SNAT_RANGE } from './cidr.js';

/**
 * The lowest address of 198.19.128.0/17 not in `used` (never the network or broadcast address), or
 * null. One bit per address of the range, then a scan of the words: text per candidate address
 * (intToIp and a string lookup each) cost 1 ms per allocation at 3,000 in use.
 */
export function allocateSnatIp(used: Iterable<string>): string | null {
  const base = SNAT_RANGE.base;
  const size = lastAddress(SNAT_RANGE) - base + 1;
  const bits = new Uint32Array(size >>> 5);
  bits[0] = 1; // the network address
  bits[bits.length - 1] = 0x80000000; // the broadcast address
  for (const text of used) {
    const i = ipToInt(text) - base;
    if (i >= 0 && i < size) bits[i >>> 5]! |= 1 << (i & 31);
  }
  for (let w = 0; w < bits.length; w++) {
    const free = ~bits[w]!;
    if (free !== 0) return intToIp(base + w * 32 + (31 - Math.clz32(free & -free)));
  }
  return null;
}

/**
 * The source ports of one SNAT address, handed out and taken back in O(1), first in first out:
 * a port comes back into use as late as possible, long after its TIME_WAIT on the backend side.
 * The ports never handed out go first, lowest first (a counter), then those given back, in the
 * order they came back (a queue that grows with them): a ring of all 64,512 ports made up front
 * cost every endpoint 126 KiB and about a millisecond of its creation (bench/aws-api.mjs).
 */
export class SnatPortPool {
  /** the lowest port never handed out */
  private next: number;
  /** the ports given back, a ring: `queued` of them from `first`; made at the first port given back */
  private queue: Uint16Array | null = null;
  private first = 0;
  private queued = 0;
  private taken = 0;

  constructor(readonly low = 1024, readonly high = 65535) {
    this.next = low;
  }

  /** ports left to take */
  get left(): number {
    return this.high - this.next + 1 + this.queued;
  }

  get inUse(): number {
    return this.taken;
  }

  /** a free port, or 0 when every port is taken */
  take(): number {
    if (this.next <= this.high) {
      this.taken++;
      return this.next++;
    }
    const queue = this.queue;
    if (queue === null || this.queued === 0) return 0;
    const port = queue[this.first]!;
    this.first = (this.first + 1) % queue.length;
    this.queued--;
    this.taken++;
    return port;
  }

  give(port: number): void {
    let queue = (this.queue ??= new Uint16Array(16));
    if (this.queued === queue.length) {
      const bigger = new Uint16Array(queue.length * 2);
      for (let i = 0; i < this.queued; i++) bigger[i] = queue[(this.first + i) % queue.length]!;
      this.queue = queue = bigger;
      this.first = 0;
    }
    queue[(this.first + this.queued) % queue.length] = port;
    this.queued++;
    this.taken--;
  }
}
