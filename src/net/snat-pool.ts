// SNAT addresses and ports. 000_9af245a83013c30f.txt 1.7: backends see endpoint traffic from
// 198.19.128.0/17. Each endpoint owns one address of that range; its connections take source
// ports from it.
import { intToIp, ipToInt, lastAddress, SNAT_RANGE } from './cidr.js';

/** The lowest address of 198.19.128.0/17 not in `used` (never the network or broadcast address), or null. */
export function allocateSnatIp(used: ReadonlySet<string>): string | null {
  const last = lastAddress(SNAT_RANGE);
  for (let ip = SNAT_RANGE.base + 1; ip < last; ip++) {
    const text = intToIp(ip);
    if (!used.has(text)) return text;
  }
  return null;
}

export function isSnatAddress(text: string): boolean {
  return ((ipToInt(text) & 0xffff8000) >>> 0) === SNAT_RANGE.base;
}

/**
 * The source ports of one SNAT address, handed out and taken back in O(1). Used where the
 * kernel does not pick them (logical SNAT mode).
 */
export class SnatPortPool {
  private readonly free: Uint16Array;
  private top: number;

  constructor(readonly low = 1024, readonly high = 65535) {
    this.free = new Uint16Array(high - low + 1);
    // Lowest ports first: the stack pops from the end.
    for (let i = 0; i < this.free.length; i++) this.free[i] = high - i;
    this.top = this.free.length;
  }

  get inUse(): number {
    return this.free.length - this.top;
  }

  /** a free port, or 0 when every port is taken */
  take(): number {
    return this.top === 0 ? 0 : this.free[--this.top]!;
  }

  give(port: number): void {
    this.free[this.top++] = port;
  }
}
