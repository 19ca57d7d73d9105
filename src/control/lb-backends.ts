// What a service backed by network load balancers relays to: each listener of its load balancers
// is a terminal port, its target group's first registered target the backend (no round robin, no
// health checks: a deviation the README names). An IP target inside the target group's VPC is
// reached at its host address (127.k.c.d), or at the real backend of a port declared at that IP;
// one outside it (127.0.0.1, another host) as it is; an instance target is a VM port of the VPC
// (its configured real address, else its host address).
import type { Backend } from '../model/events.js';
import { proxyProtocolOn, type Target, type TargetGroup } from '../model/load-balancers.js';
import type { EndpointService, PortMapping, TcpProxy } from '../model/types.js';
import { cidrContains, cidrOf, ipToInt, isIpv4 } from '../net/cidr.js';
import { hostAddress } from '../net/loopback.js';
import type { ControlState } from './state.js';

/** the real host address of a target, or null when it names nothing any more (a VM port gone from the VPC) */
export function targetHost(st: ControlState, tg: TargetGroup, t: Target): string | null {
  const vpc = st.vpcs.get(tg.vpc_id);
  if (!vpc) return null;
  if (tg.target_type === 'instance') {
    const port = vpc.ports.find((p) => p.id === t.id && p.type === 'VM');
    return port ? port.target ?? hostAddress(vpc.number, ipToInt(port.ip)) : null;
  }
  if (!isIpv4(t.id)) return null;
  // the address of a port declared with a real backend (`target`) reaches that backend, as its VM would
  const declared = vpc.ports.find((p) => p.ip === t.id && p.target);
  if (declared) return declared.target!;
  const ip = ipToInt(t.id);
  return cidrContains(cidrOf(vpc.cidr), ip) ? hostAddress(vpc.number, ip) : t.id;
}

/** every listener of the load balancers, with its target group */
function* listenersOf(st: ControlState, loadBalancers: readonly string[]): Generator<{ port: number; tg: TargetGroup | undefined }> {
  for (const id of loadBalancers) {
    for (const l of st.loadBalancers.get(id)?.listeners ?? []) yield { port: l.port, tg: st.targetGroups.get(l.target_group_id) };
  }
}

/** the terminal port each listener opens and where it relays: its target group's first target that resolves */
export function loadBalancerBackends(st: ControlState, s: EndpointService): Backend[] {
  const out: Backend[] = [];
  for (const { port, tg } of listenersOf(st, s.load_balancers ?? [])) {
    if (!tg) continue;
    for (const t of tg.targets) {
      const host = targetHost(st, tg, t);
      if (host === null) continue;
      out.push({ client_port: port, host, port: t.port, proxy_v2: proxyProtocolOn(tg) });
      break;
    }
  }
  return out;
}

/** the service's port mappings and tcp_proxy as the load balancers now make them (the Huawei API shows these) */
export function loadBalancedShape(st: ControlState, loadBalancers: readonly string[]): { ports: PortMapping[]; tcp_proxy: TcpProxy } {
  const ports: PortMapping[] = [];
  let proxy = false;
  for (const { port, tg } of listenersOf(st, loadBalancers)) {
    ports.push({ client_port: port, server_port: tg?.targets[0]?.port ?? tg?.port ?? port, protocol: 'TCP' });
    if (tg && proxyProtocolOn(tg)) proxy = true;
  }
  return { ports, tcp_proxy: proxy ? 'proxy_open' : 'close' };
}
