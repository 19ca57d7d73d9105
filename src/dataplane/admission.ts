// Admission of one new connection to an endpoint: the daemon-wide ceiling, the open-file
// headroom, the endpoint's cap (000_9af245a83013c30f.txt 1.4: 3,000 concurrent) and its whitelist.
// Pure and synchronous, so the count is exact however connects and closes interleave.
import { cidrContains, type Cidr } from '../net/cidr.js';
import { parseHostAddress, simulatedAddress } from '../net/loopback.js';

export type RefusalReason =
  | 'cap' | 'whitelist' | 'policy' | 'not_accepted' | 'daemon_limit' | 'fd_limit' | 'snat_exhausted'
  | 'backend_unreachable' | 'backend_timeout' | 'backend_error' | 'error';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'cap', 'whitelist', 'policy', 'not_accepted', 'daemon_limit', 'fd_limit', 'snat_exhausted',
  'backend_unreachable', 'backend_timeout', 'backend_error', 'error',
];

export interface DaemonLoad {
  /** connections open through the whole data plane */
  readonly active: number;
  readonly maxConnections: number;
  /** file descriptors the process may still open before it keeps a reserve free */
  readonly fdBudget: number;
}

export interface EndpointGate {
  readonly active: number;
  readonly cap: number;
  readonly whitelistEnabled: boolean;
  readonly whitelist: readonly Cidr[];
  /** the endpoint's VPC: its loopback number and network base */
  readonly vpcNumber: number;
  readonly vpcBase: number;
}

/** Why a connection from `clientHost` must be refused, or null to admit it. */
export function admit(gate: EndpointGate, load: DaemonLoad, clientHost: string): RefusalReason | null {
  if (load.active >= load.maxConnections) return 'daemon_limit';
  // Each relayed connection holds two descriptors: the client's and the backend's.
  if (load.active * 2 + 2 > load.fdBudget) return 'fd_limit';
  if (gate.active >= gate.cap) return 'cap';
  if (gate.whitelistEnabled && !whitelisted(gate, clientHost)) return 'whitelist';
  return null;
}

/** A client is whitelisted when it is in the endpoint's VPC and its simulated address matches an entry. */
export function whitelisted(gate: EndpointGate, clientHost: string): boolean {
  const parts = parseHostAddress(clientHost);
  if (!parts || parts.k !== gate.vpcNumber) return false;
  const ip = simulatedAddress(gate.vpcBase, parts.low16);
  for (const c of gate.whitelist) if (cidrContains(c, ip)) return true;
  return false;
}
