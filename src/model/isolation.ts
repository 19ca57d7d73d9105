// VPC isolation: an interface endpoint's ENI is reachable from its own VPC only, as in a cloud
// (000_9af245a83013c30f.txt 1.1: an endpoint connects a VPC to a service). A client belongs to the
// VPC whose loopback number its host address carries (127.k.c.d: src/net/loopback.ts); a client
// outside every VPC (the host, 127.0.0.1, a public address) is an on-premises client, connected
// to every VPC (a VPN or Direct Connect): allowed unless `dataplane.on_premises: deny`. The data
// plane's admission and the path tracer both decide by `isolationRefusal`.
import { hostNumber, peerIp, PUBLIC_NUMBER } from '../net/loopback.js';

export type OnPremises = 'allow' | 'deny';
export const ON_PREMISES_VALUES: readonly OnPremises[] = ['allow', 'deny'];

/** why isolation refuses a client: it is in another VPC, or on premises while those are denied */
export type IsolationRefusal = 'vpc' | 'on_premises';

/**
 * The VPC number of a client's host address, or null for a client outside every VPC.
 * `isVpc` tells which numbers belong to VPCs (a 127.k.x.x with no VPC k is outside every VPC).
 */
export function clientVpcNumber(host: string, isVpc: (k: number) => boolean): number | null {
  return clientVpcOf(peerIp(host), isVpc);
}

/** clientVpcNumber of a host address as an integer (the per-connection path: no text) */
export function clientVpcOf(ip: number, isVpc: (k: number) => boolean): number | null {
  const k = hostNumber(ip);
  return k !== 0 && k !== PUBLIC_NUMBER && isVpc(k) ? k : null;
}

/** Whether a client of `clientVpc` (null: outside every VPC) may reach an endpoint of `endpointVpc`; null: it may. */
export function isolationRefusal<V>(clientVpc: V | null, endpointVpc: V, onPremises: OnPremises): IsolationRefusal | null {
  if (clientVpc === null) return onPremises === 'allow' ? null : 'on_premises';
  return clientVpc === endpointVpc ? null : 'vpc';
}

/** the isolation rule's verdict in words, for the path tracer */
export function describeIsolation(clientVpc: string | null, endpointVpc: string, onPremises: OnPremises, endpointVpcShown = endpointVpc): { allowed: boolean; rule: string } {
  const refusal = isolationRefusal(clientVpc, endpointVpc, onPremises);
  const rule = clientVpc === null
    ? `isolation: an on-premises client (outside every VPC) is ${refusal ? 'refused (dataplane.on_premises: deny)' : 'allowed (dataplane.on_premises: allow)'}`
    : refusal
      ? `isolation: client VPC ${clientVpc} is not the endpoint's VPC ${endpointVpcShown}`
      : `isolation: client VPC ${clientVpc} is the endpoint's VPC`;
  return { allowed: refusal === null, rule };
}
