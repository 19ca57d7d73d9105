// Admission of one new connection to an endpoint: VPC isolation (src/model/isolation.ts), the
// daemon-wide ceiling, the open-file headroom, the endpoint's cap (000_9af245a83013c30f.txt 1.4:
// 3,000 concurrent) and its whitelist.
// Pure and synchronous, so the count is exact however connects and closes interleave. The data
// plane calls admit() for every connection and the path tracer calls it on the data plane's live
// gate and load, so the two cannot disagree.
import { isolationRefusal, type OnPremises } from './isolation.js';
import { cidrContains, ipToInt, isIpv4, type Cidr } from '../net/cidr.js';
import { parseHostAddress, simulatedAddress } from '../net/loopback.js';

export type RefusalReason =
  | 'cap' | 'whitelist' | 'policy' | 'not_accepted' | 'daemon_limit' | 'fd_limit' | 'snat_exhausted'
  | 'backend_unreachable' | 'backend_timeout' | 'backend_error' | 'vpc' | 'on_premises' | 'security_group' | 'error'
  /** the ENI's zone is down (a simulated outage, ChangeEvent 'zones') */
  | 'zone_down';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'cap', 'whitelist', 'policy', 'not_accepted', 'daemon_limit', 'fd_limit', 'snat_exhausted',
  'backend_unreachable', 'backend_timeout', 'backend_error', 'vpc', 'on_premises', 'security_group', 'error', 'zone_down',
];

/** an ingress rule of an endpoint's security groups: sources in `cidr` to terminal ports from-to */
export interface GateRule {
  readonly cidr: Cidr;
  readonly from: number;
  readonly to: number;
}

export interface DaemonLoad {
  /** connections open through the whole data plane */
  readonly active: number;
  readonly maxConnections: number;
  /** file descriptors connections may hold: the open-file limit less a reserve (API, store, logs) and pooled pipes */
  readonly fdBudget: number;
  /** listeners open now: each holds a descriptor of that budget */
  readonly listeners: number;
  /** clients outside every VPC: allowed or refused (dataplane.on_premises) */
  readonly onPremises: OnPremises;
}

export interface EndpointGate {
  readonly active: number;
  readonly cap: number;
  readonly whitelistEnabled: boolean;
  readonly whitelist: readonly Cidr[];
  /** the endpoint's VPC: its loopback number and network base */
  readonly vpcNumber: number;
  readonly vpcBase: number;
  /** the ingress rules of the endpoint's security groups; null: no group is enforced (made without one, or through the Huawei API) */
  readonly securityRules: readonly GateRule[] | null;
}

/**
 * Why a connection from `clientHost`, a client of VPC number `clientVpc` (null: outside every VPC),
 * to terminal `port` must be refused, or null to admit it.
 */
export function admit(gate: EndpointGate, load: DaemonLoad, clientHost: string, clientVpc: number | null, port: number): RefusalReason | null {
  const isolated = isolationRefusal(clientVpc, gate.vpcNumber, load.onPremises);
  if (isolated !== null) return isolated;
  if (load.active >= load.maxConnections) return 'daemon_limit';
  // Each relayed connection holds two descriptors: the client's and the backend's.
  if (load.active * 2 + load.listeners + 2 > load.fdBudget) return 'fd_limit';
  if (gate.active >= gate.cap) return 'cap';
  if (gate.whitelistEnabled && !whitelisted(gate, clientHost)) return 'whitelist';
  if (gate.securityRules !== null && securityRule(gate, clientHost, port) === null) return 'security_group';
  return null;
}

/**
 * The first ingress rule that admits the client's simulated source address (a client outside every
 * VPC: its own address) to the terminal port (the path tracer names it), or null.
 */
export function securityRule(gate: EndpointGate, clientHost: string, port: number): GateRule | null {
  if (gate.securityRules === null) return null;
  const parts = parseHostAddress(clientHost);
  const v4 = clientHost.startsWith('::ffff:') ? clientHost.slice(7) : clientHost;
  const ip = parts && parts.k === gate.vpcNumber ? simulatedAddress(gate.vpcBase, parts.low16) : isIpv4(v4) ? ipToInt(v4) : null;
  if (ip === null) return null;
  for (const r of gate.securityRules) if (port >= r.from && port <= r.to && cidrContains(r.cidr, ip)) return r;
  return null;
}

/** A client is whitelisted when it is in the endpoint's VPC and its simulated address matches an entry. */
export function whitelisted(gate: EndpointGate, clientHost: string): boolean {
  return whitelistEntry(gate, clientHost) !== null;
}

/** the first whitelist entry that holds the client (the path tracer names it), or null */
export function whitelistEntry(gate: EndpointGate, clientHost: string): Cidr | null {
  const parts = parseHostAddress(clientHost);
  if (!parts || parts.k !== gate.vpcNumber) return null;
  const ip = simulatedAddress(gate.vpcBase, parts.low16);
  for (const c of gate.whitelist) if (cidrContains(c, ip)) return c;
  return null;
}
