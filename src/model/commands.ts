// What the control plane is asked to do, in the domain's words: each dialect (src/api/huawei, later
// src/api/aws) parses its own requests and maps them to these. Shapes only, already checked for
// form (types, lengths, ranges) by the dialect; the control plane checks them against the state.
import type { ConnectionEventName } from './notifications.js';
import type { HealthSettings, UnhealthyTermination } from './health.js';
import type { HealthCheck } from './load-balancers.js';
import type { ClientToken, PortType, TcpProxy } from './types.js';

export interface TagInput {
  readonly key: string;
  readonly value?: string;
}

export interface PortMappingInput {
  /** the port an endpoint listens on (the terminal port) */
  readonly clientPort: number;
  /** the backend's port */
  readonly serverPort: number;
}

export interface CreateServiceCommand {
  readonly vpcId: string;
  /** the backend: a VM NIC or a load balancer's port in the VPC (empty with loadBalancers) */
  readonly portId: string;
  readonly serverType: PortType;
  /**
   * the backend instead of a port: network load balancers of the caller (src/model/load-balancers.ts),
   * all in vpcId; the service's ports are then their listeners (`ports` is ignored)
   */
  readonly loadBalancers?: readonly string[];
  /** the service's id and full name as the dialect makes them (AWS: vpce-svc-…); absent: a UUID and fullServiceName */
  readonly id?: string;
  readonly fullName?: string;
  /** the caller's short name; the stored service name adds the region and the id (rules.ts fullServiceName) */
  readonly name?: string;
  /** absent: on (000_9af245a83013c30f.txt: approval is on unless the request turns it off) */
  readonly approvalRequired?: boolean;
  readonly ports: readonly PortMappingInput[];
  readonly tcpProxy?: TcpProxy;
  readonly description?: string;
  readonly tags?: readonly TagInput[];
  /** several backend ports of the VPC, each in its subnet's zone (portId is then the first) */
  readonly backendPortIds?: readonly string[];
  /** the default bandwidth of its endpoint connections, Mbit/s; absent: none */
  readonly bandwidthMbps?: number;
  /** seconds a removed backend's connections keep flowing (0-3600); absent: the config's default */
  readonly deregistrationDelayS?: number;
  /** a port-backed service's health checks; the ones not given: the config's default */
  readonly healthCheck?: Partial<HealthSettings>;
  /** the service's private DNS name (AWS's PrivateDnsName, Alibaba's custom service domain name), pending verification */
  readonly privateDnsName?: string;
  /** a port-backed service's connection termination when a backend turns unhealthy; the fields not given: the config's */
  readonly unhealthyTermination?: Partial<UnhealthyTermination>;
  /** an idempotent create (EC2's ClientToken): the service its account made with the token is answered instead */
  readonly clientToken?: ClientToken;
}

/** Alibaba's migration of a zone's backend: the new one takes new connections; the old one's are cut (forced) or left to end (smooth) */
export interface MigrateBackendCommand {
  readonly fromPortId: string;
  readonly toPortId: string;
  readonly mode: 'smooth' | 'forced';
}

/** a whitelist entry to add or remove: an account (`iam:domain::<id>`) or `*` */
export interface PermissionEntry {
  readonly permission: string;
  /**
   * narrower than the account, as the dialect names it (Permission.principal); null: the account
   * itself only; absent: on removal, every entry of the account, however named
   */
  readonly principal?: string | null;
}

/** what a service's deletion refuses beyond its accepted and creating endpoints */
export interface DeleteServiceCommand {
  /**
   * endpoints awaiting acceptance (or pending) block it too: AWS's rule (aws-ec2-api.md 2.2);
   * Huawei's (000_9af245a83013c30f.txt 3.4) fails them with the service
   */
  readonly pendingBlocks?: boolean;
}

export interface ModifyServiceCommand {
  readonly approvalRequired?: boolean;
  /** a load-balanced service: the load balancers added to and removed from its backend */
  readonly addLoadBalancers?: readonly string[];
  readonly removeLoadBalancers?: readonly string[];
  readonly name?: string;
  readonly ports?: readonly PortMappingInput[];
  readonly tcpProxy?: TcpProxy;
  readonly description?: string;
  /** a port-backed service's backend ports from now on (removed ones drain) */
  readonly backendPortIds?: readonly string[];
  readonly deregistrationDelayS?: number;
  /** the health-check settings given replace the service's own */
  readonly healthCheck?: Partial<HealthSettings>;
  /** a new private DNS name (pending verification again unless it is the same), or null: none any more */
  readonly privateDnsName?: string | null;
  /** the default bandwidth of its endpoint connections, Mbit/s; null: none */
  readonly bandwidthMbps?: number | null;
  /** the fields given replace the service's own (else the config's) */
  readonly unhealthyTermination?: Partial<UnhealthyTermination>;
}

/** the provider sets one endpoint connection's bandwidth, Mbit/s; null: back to the service's default */
export interface ConnectionBandwidth {
  readonly endpointId: string;
  readonly bandwidthMbps: number | null;
}

export interface CreateEndpointCommand {
  /** the id the dialect gives the endpoint (AWS: `vpce-` + 17 hex); absent: a UUID. Refused when taken. */
  readonly id?: string;
  readonly serviceId: string;
  readonly vpcId: string;
  /** interface endpoints: the subnet of its ENI, and the private IP asked for */
  readonly subnetId?: string;
  readonly ip?: string;
  /**
   * interface endpoints in several zones: an ENI in each subnet (at most one per zone); replaces
   * subnetId and ip. [] (AWS): no ENI yet, the endpoint relays nothing until a subnet is added;
   * neither this nor subnetId: refused (Huawei's subnet_id is required)
   */
  readonly subnets?: readonly SubnetChoice[];
  readonly dns?: boolean;
  readonly whitelist?: readonly string[];
  readonly whitelistEnabled?: boolean;
  /** gateway endpoints: the route tables its routes go into, and its policy (checked by the dialect's PolicyOptions) */
  readonly routeTables?: readonly string[];
  /** gateway endpoints without route tables: true routes in none until tables are added (AWS); else
   * the route goes into the VPC's default table (Huawei) */
  readonly noDefaultRouteTable?: boolean;
  readonly policy?: unknown;
  /** the policy's whole document as written (the EC2 API's PolicyDocument): kept and shown back as given */
  readonly policyDocument?: string;
  readonly description?: string;
  readonly tags?: readonly TagInput[];
  /** interface endpoints: the security groups whose ingress rules admit connections (the EC2 API's SecurityGroupIds) */
  readonly securityGroups?: readonly string[];
  /** the id the dialect shows for the VPC's default group while none is stored: taken in securityGroups though not stored */
  readonly defaultGroup?: string;
  /** Alibaba's zone affinity (a vpcep-sim extension of the Huawei API) */
  readonly zoneAffinity?: boolean;
  /** an idempotent create (EC2's ClientToken): the endpoint its account made with the token is answered instead (rules.ts sameRequest) */
  readonly clientToken?: ClientToken;
  /**
   * interface endpoints that need no acceptance: true binds the listeners before the answer and
   * stores the endpoint accepted in the create's one commit (AWS may answer `available`); absent:
   * stored and answered creating, brought up after the answer (Huawei documents `creating`)
   */
  readonly upBeforeAnswer?: boolean;
}

/** one ENI wanted: its subnet, and the private IP asked for (absent: the first free one) */
export interface SubnetChoice {
  readonly subnetId: string;
  readonly ip?: string;
}

/** an interface endpoint's zones changed live: ENIs added in subnets, those of removed subnets taken away */
export interface ChangeEndpointSubnetsCommand {
  readonly add: readonly SubnetChoice[];
  readonly remove: readonly string[];
  /** true (AWS): its last subnet may go, the endpoint then relays nothing; absent (Huawei): it keeps one */
  readonly mayRemoveAll?: boolean;
  /**
   * true (AWS's AddSubnetId): a subnet added that has its ENI already is left as it is, judged when
   * the change runs (two calls at once: the second was refused as a subnet given twice)
   */
  readonly idempotentAdd?: boolean;
  /** the endpoint's other settings, changed in the same commit (AWS's ModifyVpcEndpoint: all of it or nothing) */
  readonly update?: UpdateEndpointCommand;
}

/**
 * members added to and removed from a set, applied to the set as it is when the mutation runs (two
 * changes at once both count: Terraform's association resources each send one, in parallel)
 */
export interface SetChange {
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

export interface UpdateEndpointCommand {
  /** private DNS (Huawei's enable_dns, AWS's PrivateDnsEnabled) on or off */
  readonly dns?: boolean;
  readonly whitelist?: readonly string[];
  readonly whitelistEnabled?: boolean;
  /** the groups (replacing them), or groups added and removed; at least one stays */
  readonly securityGroups?: readonly string[] | SetChange;
  /** as CreateEndpointCommand's */
  readonly defaultGroup?: string;
  readonly zoneAffinity?: boolean;
}

/** a provider's answer to an endpoint waiting on its service */
export type ConnectionAction = 'accept' | 'reject';

/** a connection the path tracer decides: from a VPC (absent: on premises, outside every VPC) */
export interface TraceQuery {
  readonly vpcId?: string;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  /** the client's source port, which the backend choice's flow hash reads; absent: 0 */
  readonly sourcePort?: number;
}

/** a connection notification on one of the caller's services, or on one of its endpoints */
export interface CreateNotificationCommand {
  /** the dialect's id (AWS: `vpce-nfn-` + 17 hex) */
  readonly id: string;
  readonly serviceId?: string;
  readonly endpointId?: string;
  readonly topic: string;
  readonly events: readonly ConnectionEventName[];
  /** an idempotent create (EC2's ClientToken): the notification its account made with the token is answered instead */
  readonly clientToken?: ClientToken;
}

export interface ModifyNotificationCommand {
  readonly topic?: string;
  readonly events?: readonly ConnectionEventName[];
}
// ---- network load balancers (src/model/load-balancers.ts)

export interface CreateLoadBalancerCommand {
  readonly name: string;
  /** network only: application and gateway are refused (Unsupported) */
  readonly type: string;
  /** internal only (vpcep-sim has no internet-facing side) */
  readonly scheme: string;
  readonly subnets: readonly string[];
  /** ipv4 (absent), dualstack or dualstack-without-public-ipv4: kept and shown, IPv6 not simulated */
  readonly ipAddressType?: string;
  /** the DNS zone its name lives in, as the dialect words it (AWS: elb.<region>.amazonaws.com) */
  readonly dnsSuffix: string;
  readonly tags?: readonly TagInput[];
}

export interface CreateTargetGroupCommand {
  readonly name: string;
  readonly protocol: string;
  readonly port: number;
  readonly vpcId: string;
  readonly targetType: string;
  readonly healthCheck?: Partial<HealthCheck>;
  readonly tags?: readonly TagInput[];
}

export interface TargetInput {
  readonly id: string;
  readonly port?: number;
  /** the AvailabilityZone given (a zone's name, or `all`): required for an IP outside the VPC, where only `all` is valid */
  readonly zone?: string;
}

export interface CreateListenerCommand {
  readonly loadBalancerId: string;
  readonly protocol: string;
  readonly port: number;
  readonly targetGroupId: string;
  readonly tags?: readonly TagInput[];
}

/** ModifyListener: each field given replaces the listener's */
export interface ModifyListenerCommand {
  readonly protocol?: string;
  readonly port?: number;
  readonly targetGroupId?: string;
}

/** a resource of the load-balancer world, for tags */
export type ElbResourceRef =
  | { readonly kind: 'loadbalancer'; readonly id: string }
  | { readonly kind: 'targetgroup'; readonly id: string }
  | { readonly kind: 'listener'; readonly loadBalancerId: string; readonly id: string };

// ---- the network inventory made through an API (src/control/network.ts) ----------------------

export interface CreateVpcCommand {
  /** the dialect's ids (AWS: `vpc-`, `rtb-`, `sg-` + 17 hex) for the VPC, its main route table and its default security group */
  readonly id: string;
  readonly mainRouteTableId: string;
  readonly defaultSecurityGroupId: string;
  readonly cidr: string;
  readonly tags?: readonly TagInput[];
}

export interface CreateSubnetCommand {
  readonly id: string;
  readonly vpcId: string;
  readonly cidr: string;
  /** one of the region's zones (src/model/zones.ts: the domain's name); absent: the first */
  readonly zone?: string;
  readonly tags?: readonly TagInput[];
}

export interface CreateRouteTableCommand {
  readonly id: string;
  readonly vpcId: string;
  readonly tags?: readonly TagInput[];
  /** an idempotent create (EC2's ClientToken): the table its account made with the token is answered instead */
  readonly clientToken?: ClientToken;
}

export interface CreateNetworkAclCommand {
  readonly id: string;
  readonly vpcId: string;
  readonly tags?: readonly TagInput[];
  /** an idempotent create (EC2's ClientToken): the ACL its account made with the token is answered instead */
  readonly clientToken?: ClientToken;
}

export interface CreateSecurityGroupCommand {
  readonly id: string;
  readonly vpcId: string;
  readonly name: string;
  readonly description: string;
  readonly tags?: readonly TagInput[];
}

export interface SecurityGroupRuleInput {
  readonly protocol: 'tcp' | '-1';
  readonly fromPort: number;
  readonly toPort: number;
  readonly cidr: string;
  /** a new rule's id (the dialect's shape); a changed rule keeps its own */
  readonly id?: string;
  readonly description?: string;
  /** a new rule's tags (a changed rule keeps its own) */
  readonly tags?: readonly TagInput[];
}

/** one rule of a group replaced by another, in place: FROM names the rule by what it matches */
export interface SecurityGroupRuleChange {
  readonly direction: 'ingress' | 'egress';
  readonly from: SecurityGroupRuleInput;
  readonly to: SecurityGroupRuleInput;
}

export interface VpcAttributesInput {
  readonly enableDnsSupport?: boolean;
  readonly enableDnsHostnames?: boolean;
}

/** the association a subnet's change starts from: none (a new one), or the one of TABLE the caller named by its id ID */
export type RouteTableAssociation = { readonly table: null } | { readonly table: string; readonly id: string };
