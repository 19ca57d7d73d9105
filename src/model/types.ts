// The domain records of vpcep-sim. These are what the store keeps and the control plane reasons
// about; each dialect renders them in its shape (src/api/huawei/serialize.ts). The field names
// are the stored documents' (snake_case, as vpcepd has always stored them).
import type { ResourceError } from './errors.js';
import type { HealthSettings, UnhealthyTermination } from './health.js';

export interface Quotas {
  readonly endpoint_service: number;
  readonly endpoint: number;
  readonly connections_per_endpoint: number;
  /** VPCs made through the API (the 254 loopback numbers are the region's: one account must not take them all) */
  readonly vpc: number;
  /** records the account publishes in vpcep-sim's public DNS zone (the zone is shared: one account must not fill it) */
  readonly dns_records: number;
}

export interface Account {
  readonly name: string;
  readonly domain_id: string;
  readonly project_id: string;
  readonly token: string;
  readonly quotas: Quotas;
  /** 12 digits: configured, else generated once and kept; the embedded `default` account's is 000000000000 */
  readonly aws_account_id: string;
  /** the config's AWS access key (accounts[].aws); like the token, never stored */
  readonly aws_access_key?: AwsAccessKey;
}

export interface AwsAccessKey {
  readonly id: string;
  readonly secret: string;
}

export type PortType = 'VM' | 'LB';

/** A backend's network port: a VM NIC or a load balancer's VIP. */
export interface NetPort {
  readonly id: string;
  readonly subnet_id: string;
  readonly ip: string;
  readonly type: PortType;
  /** the real host address of the backend; absent: its mapped 127.k.c.d address */
  readonly target?: string;
}

export interface Subnet {
  readonly id: string;
  readonly cidr: string;
  readonly gateway_ip: string;
  /** the zone it sits in (src/model/zones.ts: the config's `zone`, the EC2 API's AvailabilityZone); absent: the region's first */
  readonly zone?: string;
  /** subnets made through the EC2 API: AWS's reservation of the first four and the last address */
  readonly aws_reserved?: boolean;
  /** EC2's MapPublicIpOnLaunch (ModifySubnetAttribute): stored and shown; vpcep-sim launches no instances */
  readonly map_public_ip_on_launch?: boolean;
  /** the network ACL it is associated with (EC2's ReplaceNetworkAclAssociation); absent: its VPC's default ACL */
  readonly network_acl_id?: string;
  readonly tags?: readonly Tag[];
}

export type RouteType = 'local' | 'igw' | 'blackhole' | 'gateway_endpoint';

export interface Route {
  readonly destination: string;
  readonly type: RouteType;
  readonly nexthop?: string;
  /** system: the local route; config: declared in the config file; user: added through the API; endpoint: a gateway endpoint's */
  readonly owner: 'system' | 'config' | 'user' | 'endpoint';
}

export interface RouteTable {
  readonly id: string;
  readonly default: boolean;
  readonly subnets: readonly string[];
  readonly routes: readonly Route[];
  readonly tags?: readonly Tag[];
  /** made by a create with a client token (EC2's ClientToken); absent: without one */
  readonly client_token?: ClientToken;
}

export interface Vpc {
  readonly id: string;
  readonly account: string;
  readonly cidr: string;
  /** the loopback number k: its addresses live at 127.k.c.d (src/net/loopback.ts) */
  readonly number: number;
  readonly subnets: readonly Subnet[];
  readonly ports: readonly NetPort[];
  readonly route_tables: readonly RouteTable[];
  /** 'api': made through an API (CreateVpc), deletable there; absent: declared in the config */
  readonly origin?: 'api';
  readonly enable_dns_support?: boolean;
  readonly enable_dns_hostnames?: boolean;
  readonly tags?: readonly Tag[];
}

/** one rule of a security group: tcp or every protocol (-1), a port range, a source (ingress) or destination (egress) CIDR */
export interface SecurityGroupRule {
  readonly protocol: 'tcp' | '-1';
  readonly from_port: number;
  readonly to_port: number;
  readonly cidr: string;
  /** the rule's id, kept through changes (absent: a rule stored before rules had ids, or a group's default egress rule; the dialect derives one) */
  readonly id?: string;
  /** what its author says it is for; no part of what the rule matches */
  readonly description?: string;
  /** its own tags (AWS's security-group-rule resource); a rule without: none */
  readonly tags?: readonly Tag[];
}

/** whether a group lets in all traffic from its members: a VPC's default group, unless that rule was revoked */
export function admitsMembers(g: SecurityGroup): boolean {
  return g.default && g.ingress_from_members !== false;
}

export interface SecurityGroup {
  readonly id: string;
  readonly owner: string;
  readonly vpc_id: string;
  readonly name: string;
  readonly description: string;
  /** the VPC's default group: made with the VPC, deleted with it, never alone */
  readonly default: boolean;
  /** a default group's ingress rule "all traffic from its members" (AWS's, made with the group): absent, it has it; false, revoked */
  readonly ingress_from_members?: boolean;
  readonly ingress: readonly SecurityGroupRule[];
  readonly egress: readonly SecurityGroupRule[];
  readonly tags: readonly Tag[];
}

/** an internet gateway made through the EC2 API: attached to at most one VPC of its owner, a VPC to at most one gateway */
export interface InternetGateway {
  readonly id: string;
  readonly owner: string;
  /** the VPC it is attached to; null: detached */
  readonly vpc_id: string | null;
  readonly tags: readonly Tag[];
}

/** a numbered rule of a network ACL (src/model/network-acls.ts): the first match by number decides */
export interface NetworkAclEntry {
  /** 1-32766; the last rule, 32767 (`*`, deny all), is every ACL's and is not stored */
  readonly rule_number: number;
  readonly egress: boolean;
  /** an IP protocol number as text: `-1` all, `6` TCP, `17` UDP, `1` ICMP, ... */
  readonly protocol: string;
  readonly action: 'allow' | 'deny';
  readonly cidr: string;
  /** TCP and UDP rules: the port range */
  readonly from_port?: number;
  readonly to_port?: number;
  /** ICMP rules: type and code (-1: all) */
  readonly icmp_type?: number;
  readonly icmp_code?: number;
}

/**
 * a network ACL of a VPC made through the EC2 API: its VPC's default one (stored once changed,
 * until then its rules are DEFAULT_ACL_ENTRIES) or one made with CreateNetworkAcl. Which subnets it
 * holds is each subnet's `network_acl_id` (absent: the default ACL).
 */
export interface NetworkAcl {
  readonly id: string;
  readonly owner: string;
  readonly vpc_id: string;
  readonly default: boolean;
  readonly entries: readonly NetworkAclEntry[];
  readonly tags: readonly Tag[];
  /** made by a create with a client token (EC2's ClientToken); absent: without one */
  readonly client_token?: ClientToken;
}

export interface PortMapping {
  readonly client_port: number;
  readonly server_port: number;
  readonly protocol: 'TCP';
}

export type TcpProxy = 'close' | 'toa_open' | 'proxy_open' | 'open' | 'proxy_vni';
export const TCP_PROXY_VALUES: readonly TcpProxy[] = ['close', 'toa_open', 'proxy_open', 'open', 'proxy_vni'];
/** the tcp_proxy values whose connections start with a PROXY v2 header */
export const PROXY_V2_MODES: ReadonlySet<string> = new Set<TcpProxy>(['proxy_open', 'open', 'proxy_vni']);

export type ServiceStatus = 'creating' | 'available' | 'failed' | 'deleting';
export const SERVICE_STATUSES: readonly ServiceStatus[] = ['creating', 'available', 'failed', 'deleting'];

export type EndpointStatus = 'pendingAcceptance' | 'creating' | 'accepted' | 'rejected' | 'failed' | 'deleting';
export const ENDPOINT_STATUSES: readonly EndpointStatus[] = [
  'pendingAcceptance', 'creating', 'accepted', 'rejected', 'failed', 'deleting',
];

/**
 * An idempotent create's client token (AWS's ClientToken) and a digest of the request's other
 * parameters, in the canonical form of the dialect that took it: kept on the resource it made
 */
export interface ClientToken {
  readonly token: string;
  readonly digest: string;
}

export interface Tag {
  readonly key: string;
  readonly value: string;
}

export interface Permission {
  readonly id: string;
  readonly permission: string;
  /**
   * the principal as the dialect that added it named it, when narrower than the account (an AWS
   * role or user ARN): kept to show and remove it as named; admission is by account either way
   */
  readonly principal?: string;
  readonly created_at: string;
}

/** one backend port of a service (a VM NIC or a load balancer's port of its VPC) */
export interface ServiceBackend {
  readonly port_id: string;
}

/** a backend port removed from a service whose live connections still flow */
/** a migration of a port-backed service's backend (vpcep-sim's, Alibaba's smooth and forced migration) */
export interface BackendMigration {
  readonly from_port_id: string;
  /** smooth: its live connections end on their own; forced: they are cut */
  readonly mode: 'smooth' | 'forced';
  /** the service's updated_at it was made at */
  readonly at: string;
}

export interface DrainingBackend {
  readonly port_id: string;
  /** when they are cut (ISO time); null: never, they end on their own (a smooth migration) */
  readonly until: string | null;
}

/** A backend of an operator-run public service: each port and the real server behind it. */
export interface PublicTarget {
  readonly port: number;
  /** the real server (HOST:PORT); with backends, the first one's */
  readonly target: string;
  /** several real servers, each in a zone (null: every zone), one chosen per connection; absent: target alone, in every zone */
  readonly backends?: ReadonlyArray<{ readonly target: string; readonly zone: string | null }>;
}

export interface EndpointService {
  readonly id: string;
  /** the owning account's name; 'operator' for public services */
  readonly owner: string;
  readonly service_name: string;
  readonly service_type: 'interface' | 'gateway';
  readonly server_type: PortType | 'operator';
  readonly port_id: string | null;
  readonly vpc_id: string | null;
  /** the network load balancers behind it (ids, src/model/load-balancers.ts); its ports are their listeners */
  readonly load_balancers?: readonly string[];
  /**
   * its backend ports, each in its subnet's zone (a vpcep-sim extension: several backends; the
   * first is port_id); absent: port_id alone
   */
  readonly backends?: readonly ServiceBackend[];
  /** seconds a removed backend's live connections keep flowing (deregistration delay); absent: the config's default */
  readonly deregistration_delay_s?: number;
  /** backends removed and still draining (until: ISO time; null: until their connections end, a smooth migration) */
  readonly draining?: readonly DrainingBackend[];
  /**
   * the change that made this version was a migration of a backend (at: its updated_at): the node
   * serving each endpoint treats the backend it removed by `mode`, whichever node was asked;
   * a later change (a new updated_at) drains removed backends for the deregistration delay again
   */
  readonly migration?: BackendMigration;
  /** a port-backed service's health checks (vpcep-sim's extension); absent: the config's dataplane.health_check */
  readonly health_check?: HealthSettings;
  /** the bandwidth of each of its endpoint connections, Mbit/s (src/model/bandwidth.ts); absent: none */
  readonly bandwidth_mbps?: number;
  /** a port-backed service's connection termination when a backend turns unhealthy (vpcep-sim's extension); absent: the config's */
  readonly unhealthy_termination?: UnhealthyTermination;
  readonly approval_enabled: boolean;
  readonly status: ServiceStatus;
  readonly ports: readonly PortMapping[];
  readonly tcp_proxy: TcpProxy;
  readonly description: string;
  readonly tags: readonly Tag[];
  readonly permissions: readonly Permission[];
  readonly created_at: string;
  readonly updated_at: string;
  readonly error?: ResourceError;
  /**
   * the service's own domain name for consumers (AWS's PrivateDnsName, Alibaba's custom service
   * domain name) and its domain verification; absent: none
   */
  readonly private_dns?: PrivateDnsName;
  /** operator-run public services: declared in the config, never changed through the API */
  readonly public?: {
    readonly targets: readonly PublicTarget[];
    readonly prefix_list?: { readonly id: string; readonly cidrs: readonly string[] };
  };
  /** made by a create with a client token (EC2's ClientToken); absent: without one */
  readonly client_token?: ClientToken;
}

/** the states of a private DNS name's domain verification, as AWS spells them */
export const PRIVATE_DNS_STATES = ['pendingVerification', 'verified', 'failed'] as const;
export type PrivateDnsState = (typeof PRIVATE_DNS_STATES)[number];

/**
 * A service's private DNS name and the TXT record that proves its domain (002_05e46307768ae273.txt
 * "VPC endpoint service private DNS name verification"): the provider publishes `txt_value` at
 * `<txt_name>.<domain>` (or at the domain itself) in the public zone, then starts verification.
 */
export interface PrivateDnsName {
  /** lower case; may start with `*.` (a wildcard) */
  readonly name: string;
  readonly state: PrivateDnsState;
  /** the record's name label, `_` + 12 base-36 characters */
  readonly txt_name: string;
  /** the record's value, `vpce:` + 20 characters */
  readonly txt_value: string;
}

/** one network interface of an interface endpoint: one per zone it uses (src/model/zones.ts) */
export interface Eni {
  /** stable: `eni-` + 17 hex */
  readonly id: string;
  readonly zone: string;
  readonly subnet_id: string;
  readonly ip: string;
  /** the host address clients connect to: 127.k.c.d for ip c.d in the VPC numbered k */
  readonly host_ip: string;
}

export interface Endpoint {
  readonly id: string;
  readonly owner: string;
  readonly service_id: string;
  readonly service_name: string;
  readonly service_type: 'interface' | 'gateway';
  readonly vpc_id: string;
  /** interface endpoints: one ENI per zone, at most one per zone; gateway endpoints: none */
  readonly enis: readonly Eni[];
  /** the first ENI's subnet, private IP and host address (null: a gateway endpoint) */
  readonly subnet_id: string | null;
  readonly ip: string | null;
  /** the host address clients connect to: 127.k.c.d for ip c.d in the VPC numbered k */
  readonly host_ip: string | null;
  /** its source address in 198.19.128.0/17 while it is creating or accepted, else null */
  readonly snat_ip: string | null;
  readonly marker_id: number;
  readonly status: EndpointStatus;
  readonly enable_dns: boolean;
  readonly whitelist: readonly string[];
  readonly enable_whitelist: boolean;
  /** interface endpoints made through the EC2 API: their security groups (absent: none, as before issue 12's inventory) */
  readonly security_groups?: readonly string[];
  readonly routetables: readonly string[];
  /** Alibaba's zone affinity (a vpcep-sim extension): connections stay in the ENI's zone while it has an eligible backend */
  readonly zone_affinity?: boolean;
  /** gateway endpoints: the endpoint policy (null: the default, allow all) */
  readonly policy_statement?: readonly unknown[] | null;
  /**
   * the policy as the caller wrote it, when it came as a whole document (the EC2 API's
   * PolicyDocument): shown back as given, as AWS does (Terraform compares what it reads with what it
   * wrote); dropped whenever the policy is set otherwise
   */
  readonly policy_document?: string;
  /** the bandwidth of each of its connections set by the service's provider, Mbit/s; absent: the service's default */
  readonly bandwidth_mbps?: number;
  readonly description: string;
  readonly tags: readonly Tag[];
  readonly created_at: string;
  readonly updated_at: string;
  readonly error?: ResourceError;
  /** on a shared store (etcd): the daemon (its data dir's node id) whose data plane serves it; absent: this daemon */
  readonly node?: string;
  /** made by a create with a client token (EC2's ClientToken); absent: without one */
  readonly client_token?: ClientToken;
}

/** Endpoints in these statuses count as connections of their service and block its deletion. */
export const LIVE_ENDPOINT_STATUSES: ReadonlySet<EndpointStatus> = new Set(['creating', 'accepted']);
