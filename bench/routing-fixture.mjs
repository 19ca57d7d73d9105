// The gateway route decision the benchmarks time (bench/micro.mjs, bench/route-decision.mjs): a
// VPC of 3 subnets, its table with the local route, a default route to the igw and a gateway
// endpoint's prefix list (2 CIDRs); a client relayed through the endpoint (no policy, cap 3,000).
import { cidrOf, ipToInt } from '../dist/net/cidr.js';

export const routingInput = {
  vpcs: [{
    id: 'vpc-1', number: 3, cidr: '10.0.0.0/16', domainId: 'dom1',
    subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24' }, { id: 'subnet-b', cidr: '10.0.2.0/24' }, { id: 'subnet-c', cidr: '10.0.3.0/24' }],
    tables: [{ id: 'rtb-main', default: true, subnets: [], routes: [
      { destination: '10.0.0.0/16', type: 'local', owner: 'system' },
      { destination: '0.0.0.0/0', type: 'igw', nexthop: 'igw-1', owner: 'user' },
      { destination: 'pl-s3', type: 'gateway_endpoint', nexthop: 'vpce-s3', owner: 'endpoint' },
    ] }],
  }],
  services: [{ id: 'svc-s3', name: 'sim-1.s3', prefixListId: 'pl-s3', prefixes: [cidrOf('54.123.160.0/19'), cidrOf('52.94.0.0/24')], targets: [{ port: 443, host: '127.0.0.1', hostPort: 9443 }] }],
  endpoints: [{ id: 'vpce-s3', serviceId: 'svc-s3', status: 'accepted', policy: null, cap: 3000 }],
};
export const routeInput = { vpcId: 'vpc-1', sourceIp: ipToInt('10.0.2.5'), destinationIp: ipToInt('54.123.170.9'), destinationPort: 443 };
/** the endpoint's live connections: half its cap */
export const routeActive = () => 1500;
