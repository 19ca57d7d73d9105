// The errors of vpcep-sim by name, each with a default message; no codes, no HTTP status: each
// dialect maps every name to its code and status in a table the compiler checks is total
// (src/api/huawei/errors.ts HUAWEI_ERRORS). The domain (model, control plane) throws these.
//
// Besides the domain's own refusals, the list holds the few that the one HTTP server raises for
// every dialect (a body or headers too large, a timeout, an unknown route, no credentials, not
// ready): each dialect answers them in its shape. What only one dialect's request parsing raises
// (Huawei's paging keys and body fields: InvalidLimit, InvalidSortKey, PortLimit, ...) is that
// dialect's own (src/api/huawei/errors.ts HuaweiRequestError), so no other dialect maps it.

export const ERROR_MESSAGES = {
  SystemError: 'system error',
  InvalidParameter: 'invalid parameter',
  // -- raised by the HTTP server (src/api), for every dialect
  BodyTooLarge: 'request body exceeds 1 MiB',
  UnsupportedMediaType: 'request body must be application/json',
  RequestTimeout: 'request timeout: the request was not received in full in time',
  UriTooLong: 'a path parameter exceeds 100 characters',
  HeadersTooLarge: 'request headers too large',
  AuthFailed: 'authentication failed: missing or unknown credentials',
  NotFound: 'resource does not exist',
  NotReady: 'vpcepd is not ready: starting up, or stopping (writes are refused while it drains)',
  // -- the domain's
  StoreFull: 'the store is full',
  // a shared store (etcd) lost: writes refused, reads served from the last known state (issue 17)
  StoreUnavailable: 'the store is unreachable: nothing was changed; try again',
  // another writer changed what the mutation read, again and again: nothing was changed; try again
  StoreConflict: 'the store changed concurrently: nothing was changed; try again',
  // A listener that cannot bind: the `error` entry of the service or endpoint it fails (never an API answer).
  PrivilegedPort: 'cannot listen on a privileged port (below 1024, or below a raised net.ipv4.ip_unprivileged_port_start) without root or CAP_NET_BIND_SERVICE',
  ListenFailed: 'cannot listen: the address is in use or not available',
  InvalidSubnetId: 'invalid subnet_id',
  NotEndpointSubnet: 'the subnet is not one of the endpoint\'s',
  InvalidRouteTable: 'invalid route table ID',
  VpcNotFound: 'VPC does not exist',
  ServiceNotFound: 'endpoint service does not exist',
  ServiceUnavailable: 'endpoint service is not available',
  EndpointNotFound: 'endpoint does not exist',
  NotWhitelisted: 'no permission to connect: the account is not in the service\'s whitelist',
  NotOfService: 'endpoint does not belong to the endpoint service',
  BeingDeleted: 'resource is being deleted',
  BeingCreated: 'resource is being created',
  RouteTableTaken: 'the route table already has a route to this service through another endpoint',
  RouteManaged: 'local and endpoint routes cannot be changed through the route-table API',
  RouteExists: 'the route table already has a user route to this destination',
  RouteNotFound: 'the route table has no route to this destination',
  NetworkNotInVpc: 'network does not belong to the VPC',
  InvalidPortIp: 'invalid port_ip',
  PortIpInUse: 'port_ip is in use',
  PortIpNotInSubnet: 'port_ip is not in the subnet',
  InvalidWhitelist: 'invalid whitelist entry: an IPv4 address or CIDR',
  InvalidPolicy: 'invalid policy',
  // a create's client token used before with other parameters (AWS's idempotency)
  IdempotencyMismatch: 'the client token was used with other parameters',
  QuotaExceeded: 'quota exceeded',
  VpcLimitExceeded: 'no more VPCs: the account\'s quota, or the region\'s 254 loopback numbers, is used up',
  SubnetExhausted: 'no free private IP left in the subnet',
  InvalidPermission: 'invalid permission: iam:domain::<domain_id> or *',
  ServiceInUse: 'endpoint service is in use by endpoints in accepted or creating status',
  InvalidServerType: 'invalid server_type: VM or LB',
  PortConflict: 'port conflict: duplicate client_port',
  InvalidState: 'cannot be done in the current status',
  AlreadyConnected: 'the endpoint is already connected',
  OperatorOwned: 'operator-run public services cannot be changed by accounts',
  TagLimit: 'tag limit reached: at most 20 tags per resource',
  DuplicateTagKey: 'duplicate tag key',
  Unsupported: 'not supported by this simulator',
  InvalidConfiguration: 'a setting the resource\'s other settings do not take',
  SubnetNotFound: 'subnet not found',
  InvalidZone: 'invalid zone: unknown, or not a zone of the service',
  ZoneTaken: 'a load balancer or an endpoint has at most one subnet per availability zone',
  PortNotFound: 'port not found',
  RouteTableNotFound: 'route table not found',
  // -- network load balancers (src/model/load-balancers.ts)
  LoadBalancerNotFound: 'load balancer not found',
  TargetGroupNotFound: 'target group not found',
  ListenerNotFound: 'listener not found',
  DuplicateLoadBalancerName: 'a load balancer with this name exists',
  DuplicateTargetGroupName: 'a target group with this name exists',
  DuplicateListener: 'a listener on this port exists',
  InvalidTarget: 'invalid target',
  // ELBv2: a network load balancer with deletion_protection.enabled true is not deleted
  DeletionProtected: 'deletion protection is enabled',
  // ELBv2: a target group serves the listeners of one load balancer
  TargetGroupAssociationLimit: 'a target group cannot be associated with more than one load balancer',
  DependencyViolation: 'the resource has dependent resources: delete them first',
  SecurityGroupNotFound: 'security group not found',
  SecurityGroupRuleNotFound: 'security group rule not found',
  CidrConflict: 'the CIDR overlaps another one or is outside the range allowed',
  // EC2's error list: a VPC's block between /16 and /28; a subnet's too, and inside its VPC's
  InvalidVpcRange: 'the VPC\'s CIDR block must be between a /28 netmask and /16 netmask',
  InvalidSubnetRange: 'the subnet\'s CIDR block must be between a /28 netmask and /16 netmask, inside its VPC\'s',
  // a VPC's default security group goes with its VPC; its rules can change
  DefaultSecurityGroupUndeletable: 'a VPC\'s default security group cannot be deleted, but its rules can be changed',
  ReservedGroupName: 'the security group name \'default\' is reserved',
  DuplicateGroupName: 'a security group of that name already exists in the VPC',
  DuplicateRule: 'the rule already exists',
  RuleNotFound: 'no such rule in the security group',
  // -- internet gateways (src/control/internet-gateways.ts)
  InternetGatewayNotFound: 'internet gateway not found',
  // a route's target gateway that does not exist for the caller
  GatewayNotFound: 'gateway not found',
  GatewayNotAttached: 'the internet gateway is not attached to the VPC',
  GatewayAlreadyAttached: 'the internet gateway is attached to a VPC already, or the VPC has one already',
  SubnetAlreadyAssociated: 'the subnet is associated with a route table explicitly already',
  AssociationNotFound: 'no such association',
  // -- network ACLs (src/model/network-acls.ts, src/control/network-acls.ts)
  NetworkAclNotFound: 'network ACL not found',
  NetworkAclEntryExists: 'the network ACL already has a rule of that number in that direction',
  NetworkAclEntryNotFound: 'the network ACL has no rule of that number in that direction',
  DefaultNetworkAclUndeletable: 'a VPC\'s default network ACL cannot be deleted',
  // -- toxics (src/model/toxics.ts): Toxiproxy's words
  ToxicNotFound: 'toxic not found',
  ToxicExists: 'toxic already exists',
} as const satisfies Record<string, string>;

export type ErrorName = keyof typeof ERROR_MESSAGES;

export const ERROR_NAMES = Object.keys(ERROR_MESSAGES) as ErrorName[];

/** A refusal of the domain, by name; each dialect renders it with its code and status. */
export class DomainError extends Error {
  override readonly name: ErrorName;

  constructor(name: ErrorName, message?: string) {
    super(message ?? ERROR_MESSAGES[name]);
    this.name = name;
  }
}

/** the `error` entry of a resource the data plane could not bring up (a service, an endpoint) */
export interface ResourceError {
  readonly name: ErrorName;
  readonly message: string;
}
