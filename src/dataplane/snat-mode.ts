// Which SNAT mode runs. `kernel` binds every backend connection's source to the endpoint's SNAT
// address, which needs those addresses to be local: the AnyIP route `local 198.19.128.0/17 dev
// lo`, installed here when the process has CAP_NET_ADMIN and the route is missing (and removed at
// shutdown only if it was installed here). `logical` keeps the SNAT tuple in the connection table
// without binding, for hosts without privileges.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { intToIp, SNAT_RANGE } from '../net/cidr.js';

const run = promisify(execFile);
const ROUTE = ['local', SNAT_RANGE.text, 'dev', 'lo'];

/** `dataplane.snat: kernel` on a host where the SNAT addresses cannot be made local: a one-line start-up error */
export class SnatModeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnatModeError';
  }
}

export interface SnatSetup {
  readonly mode: 'kernel' | 'logical';
  /** why this mode runs, for the log */
  readonly why: string;
  /** removes the route if this process installed it */
  teardown(): Promise<void>;
}

/** true when a socket can bind an address of 198.19.128.0/17 */
export function canBindSnat(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, intToIp(SNAT_RANGE.base + 1), () => s.close(() => resolve(true)));
  });
}

export async function setupSnat(wanted: 'auto' | 'kernel' | 'logical'): Promise<SnatSetup> {
  const none = async () => undefined;
  if (wanted === 'logical') return { mode: 'logical', why: 'dataplane.snat is logical', teardown: none };
  if (await canBindSnat()) return { mode: 'kernel', why: `${SNAT_RANGE.text} is already local on this host`, teardown: none };
  let failure: string;
  try {
    await run('ip', ['route', 'add', ...ROUTE], { timeout: 5_000 });
    if (await canBindSnat()) {
      return {
        mode: 'kernel',
        why: `installed the route "${ROUTE.join(' ')}"`,
        teardown: async () => {
          await run('ip', ['route', 'del', ...ROUTE], { timeout: 5_000 }).catch(() => undefined);
        },
      };
    }
    failure = 'the route was installed but the addresses still cannot be bound';
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    failure = e.code === 'ENOENT' ? 'the ip command (iproute2) is missing' : (e.stderr?.trim() || e.message);
  }
  const why = `cannot make ${SNAT_RANGE.text} local (${failure}); needs root or CAP_NET_ADMIN`;
  if (wanted === 'kernel') throw new SnatModeError(`dataplane.snat is kernel but ${why}. Use snat: logical or auto on hosts without privileges.`);
  return { mode: 'logical', why: `auto: ${why}`, teardown: none };
}
