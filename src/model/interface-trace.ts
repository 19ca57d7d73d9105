// The path tracer's decision on an interface endpoint, step by step in the data plane's order:
// is something listening on host_ip:port (the endpoint accepted, its service available, the
// listener bound), then admit() on the data plane's live gate and load (isolation, the
// daemon-wide limit, the descriptor budget, the cap, the whitelist), then a SNAT source port. The
// verdict comes from the same admit() the data plane calls for every connection, so the two
// cannot disagree. Pure.
import type { ChoiceReason } from './backend-choice.js';
import { admit, networkAclRule, securityRule, whitelistEntry, type AclGateRule, type EndpointGate, type GateRule, type NetworkAclGate, type RefusalReason } from './admission.js';
import { serviceAddress } from './consumer-view.js';
import type { LiveAdmission } from './events.js';
import { daemonHeadroom, LIVE_ONLY_REFUSALS, loadRefusalText, type PathTrace } from './path-trace.js';
import { PROXY_V2_MODES, type TcpProxy } from './types.js';
import { intToIp } from '../net/cidr.js';
import { peerIp } from '../net/loopback.js';

export interface InterfaceTraceInput {
  /** the client's VPC id and loopback number, null for a client outside every VPC */
  readonly vpcId: string | null;
  readonly vpcNumber: number | null;
  readonly sourceIp: number;
  /** the client's host address (127.k.c.d for a VPC client): what the data plane sees */
  readonly clientHost: string;
  readonly destinationIp: number;
  readonly destinationPort: number;
  /** the client's source port, if the caller gave one (the network ACL's outbound rules read it) */
  readonly sourcePort: number | null;
  readonly endpoint: {
    /** null when the caller may not see it (another account's) */
    readonly id: string | null;
    readonly status: string;
    readonly hostIp: string;
    /** the ENI the client connects to (one per zone), and whether its zone is up (a zone down refuses, zone_down) */
    readonly eni: { readonly zone: string; readonly ip: string; readonly hostIp: string; readonly zoneUp: boolean };
    readonly snatIp: string | null;
    /** why it failed (the data plane's answer), if it did */
    readonly error: string | null;
    readonly cap: number;
    readonly whitelistEnabled: boolean;
    readonly whitelist: readonly string[];
  };
  /** the endpoint's service and the backend of the destination port (null: the port is not mapped) */
  readonly service: { readonly id: string; readonly name: string; readonly status: string; readonly tcpProxy: TcpProxy } | null;
  /**
   * the backend chosen for this flow, and why (src/model/backend-choice.ts, as the data plane
   * chooses); `none`: no target can take it (the connection is reset)
   */
  readonly backend: {
    readonly host: string; readonly port: number; readonly zone?: string | null; readonly reason?: ChoiceReason; readonly why?: string; readonly none?: boolean;
  } | null;
  /**
   * whether the caller sees the service's backends (src/model/consumer-view.ts): its owner does; a
   * consumer of another account's service sees the service and the port instead
   */
  readonly backendsShown: boolean;
  readonly isolation: { readonly allowed: boolean; readonly rule: string };
  /** the data plane's admission inputs now; null when the endpoint is not live there */
  readonly live: LiveAdmission | null;
}

const NOTHING_ROUTED = { subnet: null, route_table: null, candidates: [], winner: null } as const;

export function decideInterfaceEndpoint(input: InterfaceTraceInput): PathTrace {
  const e = input.endpoint;
  const live = input.live;
  const name = e.id ?? 'the endpoint';
  const source = intToIp(input.sourceIp);
  // the client as admission reads it: its host address as an integer
  const clientIp = peerIp(input.clientHost);
  const address = `${e.eni.hostIp}:${input.destinationPort}`;
  const bound = live !== null && live.ports.includes(input.destinationPort);
  const active = live?.gate.active ?? 0;
  const proxyV2 = input.service !== null && PROXY_V2_MODES.has(input.service.tcpProxy);
  const snatMode = live?.snatMode ?? null;
  // The live gate is what admission checks; the stored whitelist when the endpoint is not live.
  const whitelistOn = live?.gate.whitelistEnabled ?? e.whitelistEnabled;
  const matched = live ? whitelistEntry(live.gate, clientIp) : null;
  const acl = live?.networkAclAt(e.eni.hostIp) ?? null;
  // the port the ACL's outbound rules read: the one given, else one a client's connect would take
  const sourcePort = input.sourcePort ?? EPHEMERAL_PORTS.from;
  const at = {
    vpc_id: input.vpcId, source_ip: source, destination_ip: intToIp(input.destinationIp), destination_port: input.destinationPort,
    ...NOTHING_ROUTED, target_type: 'interface_endpoint' as const,
    service: input.service && input.backend ? { id: input.service.id, name: input.service.name, target: backendTarget(input, input.service, input.backend), status: input.service.status } : null,
    endpoint: e.id === null ? null : { id: e.id, status: e.status, ...(e.error ? { error: e.error } : {}) },
    eni: { zone: e.eni.zone, ip: e.eni.ip, host_ip: e.eni.hostIp, zone_up: e.eni.zoneUp },
    isolation: input.isolation,
    policy: { allowed: true, statement: null, reason: 'an interface endpoint has no policy (policy_statement applies to gateway endpoints only)' },
    whitelist: {
      enabled: whitelistOn, entries: live ? live.gate.whitelist.map((c) => c.text) : e.whitelist, matched: matched?.text ?? null,
      rule: !whitelistOn ? 'whitelist disabled: every client admitted by isolation passes'
        : matched ? `whitelist entry ${matched.text} holds ${source}`
          : input.vpcId === null ? 'no whitelist entry holds an on-premises client (entries are addresses of the endpoint\'s VPC)'
            : `no whitelist entry holds ${source}`,
    },
    // a client isolation refuses never meets the ACL or the groups (they read it by its host address,
    // not the address shown: the text named a rule that cannot hold it)
    ...(live && acl ? { network_acl: !input.isolation.allowed ? aclNotReached(acl, sourcePort) : networkAclTrace(live.gate, acl, clientIp, source, input.destinationPort, input.sourcePort) } : {}),
    ...(live?.gate.securityRules ? {
      security_group: !input.isolation.allowed
        ? { enforced: true, rules: live.gate.securityRules.map(ruleText), matched: null, rule: NOT_REACHED }
        : securityGroupTrace(live.gate.securityRules, securityRule(live.gate, clientIp, input.destinationPort), source, input.destinationPort),
    } : {}),
    listener: { address, bound, why: bound ? null : whyNotListening(input) },
    cap: { active, cap: live?.gate.cap ?? e.cap, headroom: Math.max(0, (live?.gate.cap ?? e.cap) - active) },
    daemon: live ? daemonHeadroom(live.load) : null,
    backend: input.service && input.backend ? backendStep(input, input.service, input.backend) : null,
    source: e.snatIp ? {
      snat_ip: e.snatIp,
      snat_mode: snatMode,
      proxy_v2: proxyV2,
      seen_as: `${snatMode === 'logical' ? 'the daemon\'s own address (SNAT mode logical: 198.19.128.0/17 is not bound' : `${e.snatIp} (the endpoint's SNAT address`}, one source port per connection)`
        + (proxyV2 ? `; the PROXY v2 header carries the client ${source}` : `; no PROXY header (tcp_proxy ${input.service?.tcpProxy ?? 'close'})`),
    } : null,
    // logical SNAT binds nothing: the backend sees the daemon's own address, as `source` says
    backend_source: !e.snatIp ? null : snatMode === 'logical' ? 'the daemon\'s own address (SNAT mode logical)' : `${e.snatIp} (the endpoint's SNAT address)`,
    live_only: LIVE_ONLY_REFUSALS,
  };
  // Nothing listens: the kernel refuses the connect (no reset, nothing counted).
  if (!bound || !live) {
    const refusal = e.status !== 'accepted' || !live ? 'not_accepted' as const : null;
    return { ...at, verdict: 'refuse', outcome: 'connection_refused', refusal, reason: `${address}: nothing listens: ${at.listener.why}` };
  }
  // the data plane's order: the ENI's zone first (accept refuses zone_down before admit())
  const refusal = (e.eni.zoneUp ? null : 'zone_down' as const)
    ?? admit(live.gate, live.load, clientIp, input.vpcNumber, input.destinationPort, acl, sourcePort) ?? (live.snatPortsFree === 0 ? 'snat_exhausted' as const : null)
    // no target, or fail open chose one of a down zone: the data plane resets it before any connect
    ?? (input.backend?.none ? 'backend_unreachable' as const : null);
  if (refusal === null) return { ...at, verdict: 'relay', outcome: 'relay', refusal: null, reason: `relayed through interface endpoint ${name}` };
  return { ...at, verdict: 'refuse', outcome: 'reset', refusal, reason: refusal === 'network_acl' ? `network ACL: ${at.network_acl!.rule}` : refusalText(refusal, input, at.cap.cap) };
}

type TracedService = NonNullable<InterfaceTraceInput['service']>;
type TracedBackend = NonNullable<InterfaceTraceInput['backend']>;

/** where the port relays to: the backend's address for the service's owner, the service and the port for a consumer */
function backendTarget(input: InterfaceTraceInput, s: TracedService, b: TracedBackend): string {
  return input.backendsShown ? `${b.host}:${b.port}` : serviceAddress(s.name, input.destinationPort);
}

/** the backend step: for a consumer whether a backend takes the flow, as its connect shows, and nothing of which one */
function backendStep(input: InterfaceTraceInput, s: TracedService, b: TracedBackend): NonNullable<PathTrace['backend']> {
  const target = backendTarget(input, s, b);
  if (!input.backendsShown) {
    return { target, chosen_by: b.none ? `no backend of service ${s.name} can take the connection: it is reset` : `a backend of service ${s.name}, chosen by the service (its owner traces which one)` };
  }
  return { target, chosen_by: b.why ?? 'the service\'s port mapping', ...(b.reason ? { zone: b.zone ?? null, reason: b.reason } : {}) };
}

const ruleText = (r: GateRule) => `tcp ${r.from === r.to ? r.from : `${r.from}-${r.to}`} from ${r.cidr.text}`;

function securityGroupTrace(rules: readonly GateRule[], matched: GateRule | null, source: string, port: number): NonNullable<PathTrace['security_group']> {
  return {
    enforced: true,
    rules: rules.map(ruleText),
    matched: matched ? ruleText(matched) : null,
    rule: matched ? `ingress rule ${ruleText(matched)} admits ${source} to port ${port}` : `no ingress rule of the endpoint's security groups admits ${source} to port ${port}`,
  };
}

/**
 * The source ports a client's connect takes when it binds none: Linux's default
 * net.ipv4.ip_local_port_range (AWS's network ACL guide: clients use ephemeral ports, Linux
 * 32768-61000). The path tracer checks the outbound rules at the first when no source port is given.
 */
export const EPHEMERAL_PORTS = { from: 32768, to: 60999 } as const;

const ports = (r: AclGateRule) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`);
const inboundText = (r: AclGateRule) => `${r.allow ? 'allow' : 'deny'} tcp ${ports(r)} from ${r.cidr.text}`;
const outboundText = (r: AclGateRule) => `${r.allow ? 'allow' : 'deny'} tcp ${ports(r)} to ${r.cidr.text}`;

/**
 * Both directions of the ENI's subnet's ACL, as admit() reads them: inbound the client to the
 * terminal port, outbound the answers to the client's source port (SOURCEPORT; null: the first
 * ephemeral port, saying whether the rule deciding there decides for every ephemeral port)
 */
function networkAclTrace(
  gate: EndpointGate, acl: NetworkAclGate, clientIp: number, source: string, port: number, sourcePort: number | null,
): NonNullable<PathTrace['network_acl']> {
  const inbound = networkAclRule(gate, acl.inbound, clientIp, port);
  const at = sourcePort ?? EPHEMERAL_PORTS.from;
  const outbound = networkAclRule(gate, acl.outbound, clientIp, at);
  const inText = inbound ? `inbound rule ${inboundText(inbound)} of the subnet's network ACL decides for ${source} to port ${port}`
    : `no inbound rule of the subnet's network ACL holds ${source} to port ${port}: the * rule denies`;
  const answers = sourcePort !== null ? `the answers to ${source} port ${sourcePort}`
    : sameForEphemeralPorts(gate, acl.outbound, clientIp, outbound)
      ? `the answers to ${source} at its ephemeral ports ${EPHEMERAL_PORTS.from}-${EPHEMERAL_PORTS.to} (no source_port given)`
      : `the answers to ${source} port ${at} (no source_port given: the first ephemeral port; other rules decide for others of ${EPHEMERAL_PORTS.from}-${EPHEMERAL_PORTS.to}, give source_port)`;
  const outText = outbound ? `outbound rule ${outboundText(outbound)} decides for ${answers}` : `no outbound rule holds ${answers}: the * rule denies`;
  return {
    enforced: true,
    rules: acl.inbound.map(inboundText),
    matched: inbound ? inboundText(inbound) : null,
    egress_rules: acl.outbound.map(outboundText),
    egress_matched: outbound ? outboundText(outbound) : null,
    source_port: at,
    rule: `${inText}; ${outText}`,
  };
}

/** the rule of a step a client refused by isolation never reaches */
const NOT_REACHED = 'not reached: isolation refuses the client before this step';

function aclNotReached(acl: NetworkAclGate, sourcePort: number): NonNullable<PathTrace['network_acl']> {
  return {
    enforced: true, rules: acl.inbound.map(inboundText), matched: null, egress_rules: acl.outbound.map(outboundText), egress_matched: null, source_port: sourcePort, rule: NOT_REACHED,
  };
}

/** whether MATCHED, the rule deciding at the first ephemeral port (null: none), decides at every one of them */
function sameForEphemeralPorts(gate: EndpointGate, rules: readonly AclGateRule[], clientIp: number, matched: AclGateRule | null): boolean {
  const { from, to } = EPHEMERAL_PORTS;
  // the first rule holding the client at any ephemeral port must be MATCHED and hold them all
  const first = rules.find((r) => r.from <= to && r.to >= from && networkAclRule(gate, [r], clientIp, Math.max(r.from, from)) !== null);
  return first === undefined ? matched === null : first === matched && first.from <= from && first.to >= to;
}

function whyNotListening(input: InterfaceTraceInput): string {
  const e = input.endpoint;
  if (input.service && input.service.status !== 'available') return `service ${input.service.name} is ${input.service.status}`;
  if (e.status !== 'accepted') return `endpoint ${e.id ?? '(another account\'s)'} is ${e.status}${e.error ? ` (${e.error})` : ''}`;
  if (!input.live) return 'the endpoint is not live on the data plane';
  if (!input.backend) return `no port ${input.destinationPort} on the endpoint's service`;
  return `the listener on port ${input.destinationPort} is not bound`;
}

function refusalText(r: RefusalReason, input: InterfaceTraceInput, cap: number): string {
  switch (r) {
    case 'vpc':
    case 'on_premises':
      return input.isolation.rule;
    case 'daemon_limit':
    case 'fd_limit':
      return loadRefusalText(r, input.live!.load)!;
    case 'cap':
      return `the endpoint holds its cap of ${cap} connections`;
    case 'whitelist':
      return `whitelist: ${intToIp(input.sourceIp)} is not in the endpoint's whitelist`;
    case 'security_group':
      return `security group: no ingress rule admits ${intToIp(input.sourceIp)} to port ${input.destinationPort}`;
    case 'snat_exhausted':
      return `every SNAT source port of ${input.endpoint.snatIp} is in use`;
    case 'zone_down':
      return `zone ${input.endpoint.eni.zone} of the ENI ${input.endpoint.eni.ip} (${input.endpoint.eni.hostIp}) is down (a simulated outage): its ENIs refuse connections`;
    case 'backend_unreachable':
      return `no backend of service ${input.service?.name ?? ''} can take the connection (none registered, or the last ones draining, or fail open chose one in a zone that is down): it is reset`;
    default:
      return r;
  }
}
