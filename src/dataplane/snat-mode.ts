// Which SNAT mode runs. `kernel` binds every backend connection's source to the endpoint's SNAT
// address, which needs those addresses to be local: the AnyIP route `local 198.19.128.0/17 dev
// lo`, installed here when the process has CAP_NET_ADMIN and the route is missing: from the process
// itself over rtnetlink (the native addon), so that a capability given to its file counts; with
// the ip command where the addon is not built. The route is
// the network namespace's, shared by every daemon in it (the nodes of a fleet on one machine): the
// daemon that added it removes it at its stop only when no other vpcepd runs in the namespace.
// `logical` keeps the SNAT tuple in the connection table without binding, for hosts without privileges.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { CAP_NET_ADMIN, holdsCapability } from '../host-privilege.js';
import { intToIp, SNAT_RANGE } from '../net/cidr.js';
import { otherVpcepdInNetns } from '../pids.js';
import { localRoute } from './native-relay.js';

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
  /** removes the route if this daemon added it and no other vpcepd of its network namespace runs */
  teardown(): Promise<void>;
}

/**
 * kernel mode with the route in place. INSTALLED: this daemon added it, and removes it at its stop
 * unless another vpcepd runs in this network namespace then (the nodes of a fleet on one machine,
 * a normal user's daemon beside root's: a route removed under them broke their data plane); a
 * route this daemon found (another daemon's, the administrator's) it never removes.
 */
function kernel(why: string, installed: boolean): SnatSetup {
  return {
    mode: 'kernel',
    why,
    teardown: async () => {
      if (!installed || otherVpcepdInNetns().length > 0) return;
      if (localRoute(false, SNAT_RANGE) === null) await run('ip', ['route', 'del', ...ROUTE], { timeout: 5_000 }).catch(() => undefined);
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

/** the ways out for a process refused the route */
const ROUTE_FIX = 'needs root or CAP_NET_ADMIN (e.g. `sudo setcap cap_net_admin=+ep "$(command -v node)"`), '
  + `or the route added once by root: \`sudo ip route add ${ROUTE.join(' ')}\``;

/** adds the route; null when done, else what failed and the way out */
async function addRoute(): Promise<{ failure: string; fix: string } | null> {
  const refused = localRoute(true, SNAT_RANGE);
  if (refused === '') return null;
  if (refused !== null) return { failure: `rtnetlink: ${refused}`, fix: ROUTE_FIX };
  try {
    await run('ip', ['route', 'add', ...ROUTE], { timeout: 5_000 });
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return { failure: 'the ip command (iproute2) is missing', fix: ROUTE_FIX };
    const failure = e.stderr?.trim() || e.message;
    // a capability the process holds through its file is not passed on to the ip it runs
    if (!holdsCapability(CAP_NET_ADMIN)) return { failure, fix: ROUTE_FIX };
    return {
      failure,
      fix: 'the ip command does not inherit this process\'s CAP_NET_ADMIN (a file capability): build the native addon '
        + `(\`npm run build:native\`), which adds the route from this process, or add it once as root: \`sudo ip route add ${ROUTE.join(' ')}\``,
    };
  }
}

export async function setupSnat(wanted: 'auto' | 'kernel' | 'logical'): Promise<SnatSetup> {
  const none = async () => undefined;
  if (wanted === 'logical') return { mode: 'logical', why: 'dataplane.snat is logical', teardown: none };
  const already = `${SNAT_RANGE.text} is already local on this host`;
  if (await canBindSnat()) return kernel(already, false);
  const refused = await addRoute();
  if (refused === null && await canBindSnat()) return kernel(`installed the route "${ROUTE.join(' ')}"`, true);
  // another daemon of this namespace, starting at the same time, added it first
  if (refused !== null && await canBindSnat()) return kernel(already, false);
  const why = refused ? `cannot make ${SNAT_RANGE.text} local (${refused.failure}); ${refused.fix}`
    : `cannot make ${SNAT_RANGE.text} local (the route was installed but the addresses still cannot be bound)`;
  if (wanted === 'kernel') throw new SnatModeError(`dataplane.snat is kernel but ${why}. Use snat: logical or auto on hosts without privileges.`);
  return { mode: 'logical', why: `auto: ${why}`, teardown: none };
}
