// Which SNAT mode runs. `kernel` binds every backend connection's source to the endpoint's SNAT
// address, which needs those addresses to be local: the AnyIP route `local 198.19.128.0/17 dev
// lo`, installed here when the process has CAP_NET_ADMIN and the route is missing. The route is
// the network namespace's, shared by every daemon in it (the nodes of a fleet on one machine): each
// kernel-mode daemon signs in under /run/vpcep-sim (a file named by its pid, in a directory of its
// namespace), and the last one to leave removes the route if a daemon installed it. `logical`
// keeps the SNAT tuple in the connection table without binding, for hosts without privileges.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { intToIp, SNAT_RANGE } from '../net/cidr.js';
import { processAlive } from '../pids.js';

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
  /** signs this daemon out; the last daemon of the namespace to leave removes the route if one of them installed it */
  teardown(): Promise<void>;
}

/** where the daemons using the route sign in */
const RUN_DIR = '/run/vpcep-sim';
/** the file that says a daemon installed the route (the others found it) */
const INSTALLED = 'installed';

/**
 * The daemons of this network namespace that use the route: one empty file per daemon, named by
 * its pid. Null when the directory cannot be made (then no daemon removes the route it installed:
 * a route left behind is harmless, one removed under a running daemon breaks its data plane).
 */
class RouteUsers {
  private constructor(private readonly dir: string) {}

  static signIn(installed: boolean): RouteUsers | null {
    try {
      const dir = path.join(RUN_DIR, `snat-route-net${fs.statSync('/proc/self/ns/net').ino}`);
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      if (installed) fs.writeFileSync(path.join(dir, INSTALLED), '');
      fs.writeFileSync(path.join(dir, String(process.pid)), '');
      return new RouteUsers(dir);
    } catch {
      return null;
    }
  }

  /** signs out; true when no other live daemon is signed in and a daemon installed the route */
  signOut(): boolean {
    try {
      fs.rmSync(path.join(this.dir, String(process.pid)), { force: true });
      let others = 0;
      for (const name of fs.readdirSync(this.dir)) {
        if (name === INSTALLED || !/^[0-9]+$/.test(name)) continue;
        if (processAlive(Number(name))) others++;
        else fs.rmSync(path.join(this.dir, name), { force: true });
      }
      if (others > 0) return false;
      const installed = fs.existsSync(path.join(this.dir, INSTALLED));
      fs.rmSync(this.dir, { recursive: true, force: true });
      return installed;
    } catch {
      return false;
    }
  }
}

/** kernel mode with the route in place: signed in, and the route removed by the last to leave if a daemon installed it */
function kernel(why: string, installed: boolean): SnatSetup {
  const users = RouteUsers.signIn(installed);
  return {
    mode: 'kernel',
    why,
    teardown: async () => {
      if (users?.signOut()) await run('ip', ['route', 'del', ...ROUTE], { timeout: 5_000 }).catch(() => undefined);
    },
  };
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
  const already = `${SNAT_RANGE.text} is already local on this host`;
  if (await canBindSnat()) return kernel(already, false);
  let failure: string;
  try {
    await run('ip', ['route', 'add', ...ROUTE], { timeout: 5_000 });
    if (await canBindSnat()) return kernel(`installed the route "${ROUTE.join(' ')}"`, true);
    failure = 'the route was installed but the addresses still cannot be bound';
  } catch (err) {
    // another daemon of this namespace, starting at the same time, added it first
    if (await canBindSnat()) return kernel(already, false);
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    failure = e.code === 'ENOENT' ? 'the ip command (iproute2) is missing' : (e.stderr?.trim() || e.message);
  }
  const why = `cannot make ${SNAT_RANGE.text} local (${failure}); needs root or CAP_NET_ADMIN`;
  if (wanted === 'kernel') throw new SnatModeError(`dataplane.snat is kernel but ${why}. Use snat: logical or auto on hosts without privileges.`);
  return { mode: 'logical', why: `auto: ${why}`, teardown: none };
}
