// Longest-prefix match over IPv4 prefixes: one hash map per prefix length, probed from the
// longest length present down to the shortest. At most 33 probes whatever the table's size.
import { maskOf, type Cidr } from './cidr.js';

export interface PrefixMatch<T> {
  readonly prefix: number;
  readonly base: number;
  readonly value: T;
}

export class PrefixTable<T> {
  private readonly byLength = new Map<number, Map<number, T>>();
  /** the prefix lengths present, longest first */
  private lengths: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  set(cidr: Cidr, value: T): void {
    let m = this.byLength.get(cidr.prefix);
    if (!m) {
      m = new Map();
      this.byLength.set(cidr.prefix, m);
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    if (!m.has(cidr.base)) this.count++;
    m.set(cidr.base, value);
  }

  get(cidr: Cidr): T | undefined {
    return this.byLength.get(cidr.prefix)?.get(cidr.base);
  }

  delete(cidr: Cidr): boolean {
    const m = this.byLength.get(cidr.prefix);
    if (!m || !m.delete(cidr.base)) return false;
    this.count--;
    if (m.size === 0) {
      this.byLength.delete(cidr.prefix);
      this.lengths = this.lengths.filter((l) => l !== cidr.prefix);
    }
    return true;
  }

  /** the entry of the longest prefix that holds `ip`, or null */
  lookup(ip: number): PrefixMatch<T> | null {
    for (const len of this.lengths) {
      const base = (ip & maskOf(len)) >>> 0;
      const v = this.byLength.get(len)!.get(base);
      if (v !== undefined) return { prefix: len, base, value: v };
    }
    return null;
  }

  /** every entry that holds `ip`, longest prefix first (what a path tracer shows) */
  matches(ip: number): Array<PrefixMatch<T>> {
    const out: Array<PrefixMatch<T>> = [];
    for (const len of this.lengths) {
      const base = (ip & maskOf(len)) >>> 0;
      const v = this.byLength.get(len)!.get(base);
      if (v !== undefined) out.push({ prefix: len, base, value: v });
    }
    return out;
  }
}
