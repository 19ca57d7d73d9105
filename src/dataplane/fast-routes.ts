// Gateway routing on the relay threads (issue 16): a public service's listener (one public address
// and port) compiled into plain integers native/relay.cc FastRouteParse() reads, so that a thread
// decides a connection's route and admission without TypeScript. The destination is the
// listener's, so decide() (src/model/routing.ts) depends only on the client's VPC and subnet: it is
// run here once per subnet, and its outcome written down; what varies per connection is compiled
// into checks the threads make: the policy's verdict as ranges of allowed source addresses (between
// two of policyIpBounds() it does not change), the cap against the endpoint's atomic count.
// test/unit/fast-routes.test.ts proves decide() and the threads agree on a table of cases.
import { decide, ROUTE_REFUSALS, serviceAt, type RouteTarget, type RoutingIndex } from '../model/routing.js';
import { policyIpBounds, policyVerdict, type CompiledPolicy } from '../model/policy.js';
import { isIPv4 } from 'node:net';
import { ipToInt, lastAddress } from '../net/cidr.js';

/** the route targets' codes on the threads: the index here */
export const ROUTE_TARGETS: readonly RouteTarget[] = ['gateway_endpoint', 'igw', 'local', 'blackhole', 'none'];

/** words before the entries (native/relay.cc FastRouteParse) */
const HEAD = 8;
/** the most entries (the internet path and gateway endpoints) one listener's report can name */
export const MAX_ROUTE_ENTRIES = 4095;
const NONE = 0xffffffff;

/** what a connection can go through: the internet path (entry 0) or a gateway endpoint */
export interface RouteEntryHandle {
  /** the fast path's endpoint handle: its atomic count (the cap's) and SNAT ports */
  readonly handle: number;
  /** the cap less its connections on the event loop's path */
  readonly capLeft: number;
}

export interface CompiledRoutes {
  readonly words: Uint32Array;
  /** entry index -> gateway endpoint id ('' for entry 0, the internet path) */
  readonly entries: readonly string[];
}

/**
 * Compiles the listener at PUBLICIP:PORT for the threads, or null when no public service serves
 * it or it leads to more endpoints than a report can name. ENDPOINT: a gateway endpoint's handle
 * (null: none, it is not accepted); VERSION: echoed in the threads' reports (16 bits).
 */
export function compileRoutes(
  view: RoutingIndex, publicIp: number, port: number, internet: RouteEntryHandle,
  endpoint: (id: string) => RouteEntryHandle | null, version: number,
  ranges: Map<string, number[]> = new Map(),
): CompiledRoutes | null {
  const service = serviceAt(view, publicIp, port);
  const target = service?.byPort.get(port);
  // a host by name is the event loop's to resolve
  if (service === null || target === undefined || !isIPv4(target.host)) return null;
  const entries: string[] = [''];
  const handles: RouteEntryHandle[] = [internet];
  const entryOf = new Map<string, number>();
  const body: number[] = [];
  for (const vpc of view.vpcs.values()) {
    body.push(vpc.number, vpc.cidr.base, vpc.subnets.length);
    for (const subnet of vpc.subnets) {
      const lo = subnet.cidr.base;
      const hi = lastAddress(subnet.cidr);
      // the route does not depend on the source within the subnet; the cap is the threads' (none counted here)
      const o = decide(view, { vpcId: vpc.id, sourceIp: lo, destinationIp: publicIp, destinationPort: port }, () => 0);
      const dynamic = o.target === 'gateway_endpoint' && (o.refusal === null || o.refusal === 'policy' || o.refusal === 'cap');
      let entry = NONE;
      if (o.target === 'igw' && o.refusal === null) entry = 0;
      // an accepted endpoint counts the refusals of its route (no_port) as the event loop's path does
      if (dynamic || o.endpoint?.status === 'accepted') {
        const id = o.endpoint!.id;
        const h = endpoint(id);
        if (h === null) return null;
        let e = entryOf.get(id);
        if (e === undefined) {
          if (entries.length > MAX_ROUTE_ENTRIES) return null;
          entryOf.set(id, (e = entries.length));
          entries.push(id);
          handles.push(h);
        }
        entry = e;
      }
      // the same for every listener of one view (RANGES: one map per compile of the view): a policy of
      // a thousand CIDRs took seconds of the event loop when it ran again for each of 256 listeners
      let allowed: number[] = [];
      if (dynamic) {
        const key = `${o.endpoint!.id} ${vpc.id} ${lo} ${hi}`;
        allowed = ranges.get(key) ?? allowedRanges(o.endpoint!.compiledPolicy, lo, hi, vpc.id, vpc.domainId);
        ranges.set(key, allowed);
      }
      body.push(lo, hi, ROUTE_TARGETS.indexOf(o.target), dynamic || o.refusal === null ? NONE : ROUTE_REFUSALS.indexOf(o.refusal), entry, allowed.length / 2, ...allowed);
    }
  }
  const words = new Uint32Array(HEAD + handles.length * 2 + body.length);
  words[0] = publicIp;
  words[1] = port;
  words[2] = ipToInt(target.host);
  words[3] = target.port;
  words[4] = handles.length;
  words[5] = view.vpcs.size;
  words[6] = version & 0xffff;
  let o = HEAD;
  for (const h of handles) {
    words[o++] = h.handle;
    words[o++] = Math.max(-0x80000000, Math.min(0x7fffffff, h.capLeft)) >>> 0;
  }
  words.set(body.map((x) => x >>> 0), o);
  return { words, entries };
}

/** the source addresses in [LO, HI] the policy allows to a client of the VPC, as [low, high] pairs */
function allowedRanges(policy: CompiledPolicy | null, lo: number, hi: number, sourceVpc: string, principalAccount: string): number[] {
  if (policy === null) return [lo, hi];
  const starts = [lo, ...policyIpBounds(policy).filter((b) => b > lo && b <= hi)];
  const out: number[] = [];
  for (let i = 0; i < starts.length; i++) {
    const end = i + 1 < starts.length ? starts[i + 1]! - 1 : hi;
    if (!policyVerdict(policy, { sourceIp: starts[i]!, sourceVpc, principalAccount }).allowed) continue;
    if (out.length > 0 && out[out.length - 1] === starts[i]! - 1) out[out.length - 1] = end;
    else out.push(starts[i]!, end);
  }
  return out;
}
