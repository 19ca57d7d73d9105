// What the tests that drive the AWS dialect with @aws-sdk/client-ec2 or the aws CLI share: a
// signed client per account key, the SDK's error of a call that must fail, whether bytes go
// through an endpoint's address from a client address, and which `aws` program to run.
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { EC2Client, type EC2ServiceException } from '@aws-sdk/client-ec2';

export interface AwsKey {
  readonly account_id: string;
  readonly access_key_id: string;
  readonly secret_access_key: string;
}

/** the keys of the two accounts of test/helpers.ts twoAccountConfig, for `accounts[].aws` */
export const AWS_KEYS = {
  provider: { account_id: '111111111111', access_key_id: 'AKIAPROVIDER00000001', secret_access_key: 'provider-secret-key-0123456789abcdef' },
  consumer: { account_id: '222222222222', access_key_id: 'AKIACONSUMER00000002', secret_access_key: 'consumer-secret-key-0123456789abcdef' },
} as const satisfies Record<string, AwsKey>;

/**
 * the aws CLI's program: where `aws` on PATH is pyenv's shim (a bash script that runs `pyenv exec`,
 * a second start-up of 0.4 s of CPU on every call), the program it runs, found once; else `aws`
 */
export const AWS_CLI = spawnSync('pyenv', ['which', 'aws'], { encoding: 'utf8' }).stdout?.trim() || 'aws';

/** one EC2 client per key, against the daemon at `url`, without retries */
export function ec2Clients<K extends string>(url: string, keys: Readonly<Record<K, AwsKey>>, region = 'us-east-1'): Record<K, EC2Client> {
  const out = {} as Record<K, EC2Client>;
  for (const name of Object.keys(keys) as K[]) {
    const key = keys[name];
    out[name] = new EC2Client({
      region, endpoint: url, maxAttempts: 1,
      credentials: { accessKeyId: key.access_key_id, secretAccessKey: key.secret_access_key },
    });
  }
  return out;
}

/** the SDK's error for a call that must fail: its code and HTTP status */
export async function refused(p: Promise<unknown>): Promise<{ code: string; status: number | undefined; message: string }> {
  const err = await p.then(() => new Error('the call succeeded'), (e: unknown) => e);
  if (!(err instanceof Error) || !('$metadata' in err)) throw err;
  const e = err as EC2ServiceException;
  return { code: e.name, status: e.$metadata.httpStatusCode, message: e.message };
}

/** bytes through host:port from a client bound at localAddress: 'relay' when they come back */
export function attempt(host: string, p: number, localAddress: string, localPort?: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: p, localAddress, ...(localPort === undefined ? {} : { localPort }) });
    const done = (r: string) => { s.destroy(); resolve(r); };
    s.on('connect', () => s.write('ping through privatelink'));
    s.on('data', (b) => done(String(b) === 'ping through privatelink' ? 'relay' : `got ${String(b)}`));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('close', () => done('closed'));
  });
}
