// Admission of one new connection to an endpoint: VPC isolation (src/model/isolation.ts), the
// daemon-wide ceiling, the open-file headroom, the endpoint's cap (000_9af245a83013c30f.txt 1.4:
// 3,000 concurrent), its whitelist, the network ACL of the ENI's subnet and its security groups.
// Pure and synchronous, so the count is exact however connects and closes interleave. The data
// plane calls admit() for every connection and the path tracer calls it on the data plane's live
// gate and load, so the two cannot disagree.
import { isolationRefusal, type OnPremises } from './isolation.js';
import { cidrContains, type Cidr } from '../net/cidr.js';
import { hostNumber, simulatedAddress } from '../net/loopback.js';

export type RefusalReason =
  | 'cap' | 'whitelist' | 'policy' | 'not_accepted' | 'daemon_limit' | 'fd_limit' | 'snat_exhausted'
  | 'backend_unreachable' | 'backend_timeout' | 'backend_error' | 'vpc' | 'on_premises' | 'security_group' | 'error'
  /** the ENI's zone is down (a simulated outage, ChangeEvent 'zones') */
  | 'zone_down'
  /**
   * the ENI's subnet's network ACL: its inbound rules deny the client to the port, or its outbound
   * rules deny the answer back to the client's address and source port (or no rule holds it)
   */
  | 'network_acl';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'cap', 'whitelist', 'policy', 'not_accepted', 'daemon_limit', 'fd_limit', 'snat_exhausted',
  'backend_unreachable', 'backend_timeout', 'backend_error', 'vpc', 'on_premises', 'security_group', 'error', 'zone_down', 'network_acl',
];

/** an ingress rule of an endpoint's security groups: sources in `cidr` to terminal ports from-to */
export interface GateRule {
  readonly cidr: Cidr;
  readonly from: number;
  readonly to: number;
}

/**
 * a rule of a network ACL as admission reads it (src/control/network-acls.ts enforcedAcl() compiles
 * the TCP ones: protocol -1 any port, 6 its ports), in rule-number order: the first that holds the
 * address and port decides
 */
export interface AclGateRule {
  readonly cidr: Cidr;
  readonly from: number;
  readonly to: number;
  readonly allow: boolean;
}

/**
 * The ENI's subnet's network ACL, both directions. AWS's ACLs are stateless: the client's packets
 * in meet the inbound rules (source: the client, port: the terminal port), the ENI's answers out
 * meet the outbound rules (destination: the client, port: the client's source port, an ephemeral
 * one); either refusing, the connection fails.
 */
export interface NetworkAclGate {
  readonly inbound: readonly AclGateRule[];
  readonly outbound: readonly AclGateRule[];
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
 * Why a connection from `clientIp` (its host address as an integer, 127.k.c.d; a client outside
 * every VPC: its own address), a client of VPC number `clientVpc` (null: outside every VPC), to
 * terminal `port` must be refused, or null to admit it; `acl` (null: none enforced) checks the
 * client's source port `clientPort` too. Integers only: no address is parsed.
 */
export function admit(
  gate: EndpointGate, load: DaemonLoad, clientIp: number, clientVpc: number | null, port: number, acl: NetworkAclGate | null = null, clientPort = 0,
): RefusalReason | null {
  const isolated = isolationRefusal(clientVpc, gate.vpcNumber, load.onPremises);
  if (isolated !== null) return isolated;
  if (load.active >= load.maxConnections) return 'daemon_limit';
  // Each relayed connection holds two descriptors: the client's and the backend's.
  if (load.active * 2 + load.listeners + 2 > load.fdBudget) return 'fd_limit';
  if (gate.active >= gate.cap) return 'cap';
  if (gate.whitelistEnabled && !whitelisted(gate, clientIp)) return 'whitelist';
  // the subnet's ACL before the ENI's groups, as a packet meets them; no rule holding it: the `*` rule denies
  if (acl !== null && (networkAclRule(gate, acl.inbound, clientIp, port)?.allow !== true || networkAclRule(gate, acl.outbound, clientIp, clientPort)?.allow !== true)) {
    return 'network_acl';
  }
  if (gate.securityRules !== null && securityRule(gate, clientIp, port) === null) return 'security_group';
  return null;
}

/** the client's address the rules match: its simulated address in the endpoint's VPC, else its own */
function sourceOf(gate: EndpointGate, clientIp: number): number {
  return hostNumber(clientIp) === gate.vpcNumber ? simulatedAddress(gate.vpcBase, clientIp & 0xffff) : clientIp;
}

/**
 * the first of RULES (one direction of the ENI's subnet's ACL) holding the client's address and
 * PORT (inbound: the terminal port; outbound: the client's source port), or null: `*` denies (the
 * path tracer names it)
 */
export function networkAclRule(gate: EndpointGate, rules: readonly AclGateRule[], clientIp: number, port: number): AclGateRule | null {
  const ip = sourceOf(gate, clientIp);
  for (const r of rules) if (port >= r.from && port <= r.to && cidrContains(r.cidr, ip)) return r;
  return null;
}

/**
 * The first ingress rule that admits the client's simulated source address (a client outside every
 * VPC: its own address) to the terminal port (the path tracer names it), or null.
 */
export function securityRule(gate: EndpointGate, clientIp: number, port: number): GateRule | null {
  if (gate.securityRules === null) return null;
  const ip = sourceOf(gate, clientIp);
  for (const r of gate.securityRules) if (port >= r.from && port <= r.to && cidrContains(r.cidr, ip)) return r;
  return null;
}

/** A client is whitelisted when it is in the endpoint's VPC and its simulated address matches an entry. */
export function whitelisted(gate: EndpointGate, clientIp: number): boolean {
  return whitelistEntry(gate, clientIp) !== null;
}

/** the first whitelist entry that holds the client (the path tracer names it), or null */
export function whitelistEntry(gate: EndpointGate, clientIp: number): Cidr | null {
  if (hostNumber(clientIp) !== gate.vpcNumber) return null;
  const ip = simulatedAddress(gate.vpcBase, clientIp & 0xffff);
  for (const c of gate.whitelist) if (cidrContains(c, ip)) return c;
  return null;
}
