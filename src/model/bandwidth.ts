// Bandwidth per endpoint connection, as Alibaba defines it (004_803ff88163687be8.txt 2.4.2): a limit
// in Mbit/s on each connection through an endpoint, set by the service's provider per endpoint
// connection, with a default per service. vpcep-sim sets none unless asked (README "Bandwidth"):
// benchmarks are not capped. Pure: the range, the check and what a connection gets.
import { DomainError } from './errors.js';
import type { Endpoint, EndpointService } from './types.js';

/** Alibaba's adjustable range (UpdateVpcEndpointConnectionAttribute's Bandwidth), Mbit/s */
export const BANDWIDTH_MIN_MBPS = 100;
export const BANDWIDTH_MAX_MBPS = 10_240;

/** a limit given through an API: an integer in Alibaba's range, else InvalidParameter naming the field */
export function checkBandwidth(field: string, mbps: number): number {
  if (!Number.isInteger(mbps) || mbps < BANDWIDTH_MIN_MBPS || mbps > BANDWIDTH_MAX_MBPS) {
    throw new DomainError('InvalidParameter', `${field}: must be an integer from ${BANDWIDTH_MIN_MBPS} to ${BANDWIDTH_MAX_MBPS} (Mbit/s), not ${mbps}`);
  }
  return mbps;
}

/** the limit of an endpoint's connections: its own, else its service's default; null: none */
export function bandwidthOf(e: Endpoint, s: EndpointService | undefined): number | null {
  return e.bandwidth_mbps ?? s?.bandwidth_mbps ?? null;
}

/** bytes per second of a limit in Mbit/s (10^6 bits); 0: no limit */
export function bytesPerSecond(mbps: number | null | undefined): number {
  return mbps ? (mbps * 1_000_000) / 8 : 0;
}
