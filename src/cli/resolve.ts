// `vpcep resolve`: asks vpcepd's DNS server for a name from a given source address, so that the
// answer is the one that address's VPC sees (a query from 127.k.c.d is VPC k's; README "DNS").
import { Resolver } from 'node:dns/promises';
import dgram from 'node:dgram';

export interface Resolution {
  readonly name: string;
  readonly from: string;
  readonly server: string;
  /** NOERROR with addresses; NODATA: the name exists, without an A record; NXDOMAIN: no such name in this view */
  readonly status: 'NOERROR' | 'NODATA' | 'NXDOMAIN';
  readonly answers: ReadonlyArray<{ address: string; ttl: number }>;
}

/** the A records of `name` as `from` sees them; throws an Error for no answer at all (refused, timed out) */
export async function resolveFrom(name: string, from: string, server: string, timeoutMs: number): Promise<Resolution> {
  const r = new Resolver({ timeout: timeoutMs, tries: 1 });
  r.setLocalAddress(from);
  r.setServers([server]);
  // c-ares stretches its timeout (to about 2 s for 1 s): the caller's bound is kept by cancelling
  const timer = setTimeout(() => r.cancel(), timeoutMs);
  try {
    const answers = await r.resolve4(name, { ttl: true });
    return { name, from, server, status: 'NOERROR', answers };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ECANCELLED' ? 'ETIMEOUT' : (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND') return { name, from, server, status: 'NXDOMAIN', answers: [] };
    if (code === 'ENODATA') return { name, from, server, status: 'NODATA', answers: [] };
    const why = code === 'ECONNREFUSED' ? 'refused (is vpcepd running with dns.enabled, and --server its dns.listen?)'
      : code === 'ETIMEOUT' ? `no answer in ${timeoutMs} ms` : `${code ?? ''} ${(err as Error).message}`.trim();
    throw new Error(`DNS server ${server}: ${why}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether a query can leave from `address`: a UDP socket binds to it. One that is not the host's
 * (10.0.1.50, a client's simulated address instead of its 127.k.c.d) failed in the resolver as
 * ECONNREFUSED, which blamed the DNS server.
 */
export async function isLocalAddress(address: string): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port: 0 }, resolve);
    });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') return false;
    return true; // another failure (no free port) is the resolver's to report
  } finally {
    socket.close();
  }
}
