// What the EC2 SDK tests share: the code and status of a call that must fail, and whether bytes
// go through an endpoint's address from a client address.
import net from 'node:net';
import type { EC2ServiceException } from '@aws-sdk/client-ec2';

/** the SDK's error for a call that must fail: its code and HTTP status */
export async function refused(p: Promise<unknown>): Promise<{ code: string; status: number | undefined; message: string }> {
  const err = await p.then(() => new Error('the call succeeded'), (e: unknown) => e);
  if (!(err instanceof Error) || !('$metadata' in err)) throw err;
  const e = err as EC2ServiceException;
  return { code: e.name, status: e.$metadata.httpStatusCode, message: e.message };
}

/** bytes through host:port from a client bound at localAddress: 'relay' when they come back */
export function attempt(host: string, p: number, localAddress: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: p, localAddress });
    const done = (r: string) => { s.destroy(); resolve(r); };
    s.on('connect', () => s.write('ping through privatelink'));
    s.on('data', (b) => done(String(b) === 'ping through privatelink' ? 'relay' : `got ${String(b)}`));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('close', () => done('closed'));
  });
}
