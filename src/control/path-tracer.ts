// The path tracer: the decision the data plane makes for one connection, explained. Without a VPC
// the client is on premises (outside every VPC). A destination that is an interface endpoint's
// address (its private IP in the client's VPC, or its host address) is decided by admit() on the
// data plane's live gate and load (src/model/interface-trace.ts); any other as a route
// (explain(): gateway endpoints, the internet), the words of decide(), which the data plane routes by.
import type { TraceQuery } from '../model/commands.js';
import { DomainError } from '../model/errors.js';
import { chooseBackend, choiceIndex, choiceReason, choiceText, flowHash, NO_CHOICE, type ChoiceInputs } from '../model/backend-choice.js';
import type { Backend } from '../model/events.js';
import { targetKey } from '../model/health.js';
import { seesBackends } from '../model/consumer-view.js';
import { decideInterfaceEndpoint, type InterfaceTraceInput } from '../model/interface-trace.js';
import { describeIsolation } from '../model/isolation.js';
import { routeTrace, type PathTrace } from '../model/path-trace.js';
import { decide, decideOnPremisesToPublic, explainOutcome, indexRouting, routeRefusalReason, serviceAt, type RoutingIndex } from '../model/routing.js';
import type { Account, Endpoint, Eni, Vpc } from '../model/types.js';
import { cidrContains, cidrOf, intToIp, ipToInt, isIpv4 } from '../net/cidr.js';
import { hostAddress, PUBLIC_NUMBER } from '../net/loopback.js';
import { probeView } from './fleet-health.js';
import type { ControlState } from './state.js';
import { backendsOf } from './transitions.js';
import { subnetZone } from './lb-backends.js';

const LOOPBACK = cidrOf('127.0.0.0/8');

export function trace(st: ControlState, caller: Account, q: TraceQuery): PathTrace {
  const vpc = q.vpcId === undefined ? null : st.vpcs.get(q.vpcId);
  if (vpc === undefined || (vpc && vpc.account !== caller.name)) throw new DomainError('VpcNotFound', `VPC ${q.vpcId} does not exist`);
  if (!isIpv4(q.sourceIp)) throw new DomainError('InvalidParameter', `source_ip: ${JSON.stringify(q.sourceIp)} is not an IPv4 address`);
  if (!isIpv4(q.destinationIp)) throw new DomainError('InvalidParameter', `destination_ip: ${JSON.stringify(q.destinationIp)} is not an IPv4 address`);
  const input = { sourceIp: ipToInt(q.sourceIp), destinationIp: ipToInt(q.destinationIp), destinationPort: q.destinationPort };
  // the ENI the client connects to: its host address, or its private IP in the client's VPC
  for (const e of st.endpoints.values()) {
    if (e.service_type !== 'interface') continue;
    const eni = e.enis.find((n) => n.host_ip === q.destinationIp || (vpc !== null && e.vpc_id === vpc.id && n.ip === q.destinationIp));
    if (!eni) continue;
    const t = traceInterface(st, caller, vpc, q, e, eni);
    // another account's endpoint where nothing listens is what a connect shows: nothing there
    if (t) return t;
    break;
  }
  const view = indexRouting(st.routing());
  const load = st.dataPlane.daemonLoad();
  const listener = routeListener(st, view, vpc, input.destinationIp, input.destinationPort);
  if (!vpc) {
    const d = decideOnPremisesToPublic(view, input);
    return routeTrace(d, d.verdict === 'refuse' ? 'not_accepted' : null, load, listener);
  }
  const route = { vpcId: vpc.id, ...input };
  const active = (id: string) => st.dataPlane.endpointConnections(id);
  const o = decide(view, route, active);
  return routeTrace(explainOutcome(route, o, active), routeRefusalReason(o), load, listener);
}

/** where a client connects to a routed destination, and whether the data plane listens there */
function routeListener(st: ControlState, view: RoutingIndex, vpc: Vpc | null, ip: number, port: number): NonNullable<PathTrace['listener']> {
  if (vpc && cidrContains(cidrOf(vpc.cidr), ip)) {
    return { address: `${hostAddress(vpc.number, ip)}:${port}`, bound: false, why: 'an address of the client\'s own VPC: the data plane listens there for interface endpoints only' };
  }
  if (cidrContains(LOOPBACK, ip)) {
    return { address: `${intToIp(ip)}:${port}`, bound: false, why: 'a host address of no interface endpoint (trace a public service by its public address)' };
  }
  // Public a.b.c.d is reached at 127.255.c.d, where the gateway plane listens for the public services.
  const bound = st.dataPlane.publicListening(ip, port);
  const at = bound ? null : serviceAt(view, ip, port);
  const failed = at ? st.services.get(at.id)?.error : undefined;
  const why = bound ? null : !at ? 'no public service on that address and port' : 'the public service\'s listener is not bound';
  return { address: `${hostAddress(PUBLIC_NUMBER, ip)}:${port}`, bound, why, ...(failed ? { error: failed } : {}) };
}

/**
 * Another account's endpoint is traced as far as isolation, which is the caller's to know: its
 * id, VPC, service, cap, ENI (private IP, zone), security groups, network ACL and the rule of its own that
 * decided stay hidden. No existence oracle beyond what a connection attempt shows: where nothing
 * of it listens (pending, rejected, failed, a port its service has not), the kernel refuses the
 * connect as at an address where nothing is, so null: the caller traces it as no endpoint.
 */
function traceInterface(st: ControlState, caller: Account, vpc: Vpc | null, q: TraceQuery, ep: Endpoint, eni: Eni): PathTrace | null {
  const own = ep.owner === caller.name;
  const service = st.services.get(ep.service_id);
  const sourceIp = ipToInt(q.sourceIp);
  const clientHost = vpc ? hostAddress(vpc.number, sourceIp) : q.sourceIp;
  const backend = service ? chosenBackend(st, ep, eni, backendsOf(st, service).find((b) => b.client_port === q.destinationPort) ?? null, clientHost, q) : null;
  // The data plane knows a VPC client by its host address 127.k.c.d, the low half of an address of the VPC.
  if (vpc && !cidrContains(cidrOf(vpc.cidr), sourceIp)) {
    throw new DomainError('InvalidParameter', `source_ip: ${q.sourceIp} is not an address of VPC ${vpc.id} (${vpc.cidr})`);
  }
  const d = decideInterfaceEndpoint({
    vpcId: vpc?.id ?? null,
    vpcNumber: vpc?.number ?? null,
    sourceIp,
    // What the data plane sees: a VPC client connects from its host address 127.k.c.d.
    clientHost,
    destinationIp: ipToInt(q.destinationIp),
    destinationPort: q.destinationPort,
    sourcePort: q.sourcePort ?? null,
    endpoint: {
      id: own ? ep.id : null, status: ep.status, hostIp: ep.host_ip!, snatIp: ep.snat_ip,
      eni: { zone: eni.zone, ip: eni.ip, hostIp: eni.host_ip, zoneUp: !st.zonesDown.has(eni.zone) },
      error: ep.error?.message ?? null, cap: st.capOf(ep.owner), whitelistEnabled: ep.enable_whitelist, whitelist: ep.whitelist,
    },
    service: service ? { id: service.id, name: service.service_name, status: service.status, tcpProxy: service.tcp_proxy } : null,
    backend,
    backendsShown: service === undefined || seesBackends(caller.name, service.owner),
    isolation: describeIsolation(vpc?.id ?? null, ep.vpc_id, st.onPremises, own ? ep.vpc_id : 'of another account'),
    live: st.dataPlane.admissionOf(ep.id),
  });
  const node = servingNode(st, ep);
  if (own) return node ? { ...d, node } : d;
  if (d.outcome === 'connection_refused') return null;
  const isolated = d.refusal === 'vpc' || d.refusal === 'on_premises';
  const reason = isolated ? d.reason
    : d.verdict === 'relay' ? 'relayed through another account\'s interface endpoint' : 'refused by another account\'s interface endpoint (its own rules: its owner can trace them)';
  const { eni: _eni, security_group: _groups, network_acl: _acl, ...shown } = d;
  return {
    ...shown, service: null, cap: null, backend_source: null, whitelist: null, listener: null, daemon: null, backend: null, source: null, policy: null,
    refusal: isolated ? d.refusal : null, reason, ...(node ? { node } : {}),
  };
}

/** the node that serves the endpoint's ENIs: its placement, or this node (SQLite) */
function servingNode(st: ControlState, ep: Endpoint): PathTrace['node'] {
  const nodes = st.fleet?.nodes() ?? [];
  const self = st.nodeId ?? nodes[0]?.id;
  const id = ep.node ?? self;
  if (id === undefined) return undefined;
  const r = nodes.find((n) => n.id === id);
  return { id, name: r?.name ?? null, address: r?.api ?? null, live: r !== undefined, self: id === self };
}

/**
 * The backend the data plane would choose for this flow: the same chooseBackend over the same
 * targets, the data plane's health view and zones down, and the flow hash of the client's host
 * address and source port (the query's, else 0), the ENI's host address and the terminal port;
 * the zone rules read the zone of the ENI the client connects to.
 */
function chosenBackend(st: ControlState, ep: Endpoint, eni: Eni, b: Backend | null, clientHost: string, q: TraceQuery): InterfaceTraceInput['backend'] {
  if (!b) return null;
  const targets = b.targets ?? [{ key: targetKey(b.host, b.port), host: b.host, port: b.port, zone: null }];
  const dp = st.dataPlane;
  const inputs: ChoiceInputs = {
    health: { state: (k) => probeView(st, k)?.state ?? 'initial', reason: (k) => probeView(st, k)?.reason ?? null },
    zoneDown: (z) => dp.zoneDown?.(z) ?? false,
  };
  const zone = eni.zone;
  const rules = { zone, crossZone: b.cross_zone ?? true, zoneAffinity: ep.zone_affinity === true };
  const c = chooseBackend(targets, rules, inputs, flowHash(isIpv4(clientHost) ? ipToInt(clientHost) : 0, q.sourcePort ?? 0, ipToInt(eni.host_ip), q.destinationPort));
  if (c === NO_CHOICE) return { host: b.host, port: b.port, none: true, why: 'no backend: none registered, or the last ones are draining (the connection is reset)' };
  const t = targets[choiceIndex(c)]!;
  const reason = choiceReason(c);
  const why = `${choiceText(reason, zone, t.zone)} (flow hash of source port ${q.sourcePort ?? 0})`;
  // as the data plane: a target of a down zone (fail open's choice) takes no connect, it is reset
  if (inputs.zoneDown(t.zone)) return { host: t.host, port: t.port, zone: t.zone, reason, none: true, why: `${why}; its zone ${t.zone} is down: no connect can succeed (the connection is reset, backend_unreachable)` };
  return { host: t.host, port: t.port, zone: t.zone, reason, why };
}
