// Huawei's error table: every error name, the domain's and this dialect's own, with its
// EndPoint.NNNN code and HTTP status (huawei-vpcep-api.md "Errors"). The compiler checks the table
// is total; test/unit/errors.test.ts checks it against the README's error table. No EndPoint code
// is written anywhere else.
import { ERROR_MESSAGES, type DomainError, type ErrorName } from '../../model/errors.js';
import { boundedMessage } from '../framework-errors.js';

/** names only this dialect's request parsing raises (its paging keys and body fields), with their default messages */
const REQUEST_MESSAGES = {
  InvalidLimit: 'invalid limit: an integer from 0 to 1000',
  InvalidOffset: 'invalid offset: a non-negative integer',
  InvalidSortKey: 'invalid sort_key: create_at or update_at',
  InvalidSortDir: 'invalid sort_dir: asc or desc',
  InvalidStatus: 'invalid status',
  InvalidProjectId: 'invalid project ID: not the caller\'s project',
  InvalidAction: 'invalid action',
  BatchLimit: 'batch limit exceeded',
  OneEndpointOnly: 'only one endpoint is allowed per call',
  InvalidPortId: 'invalid port ID',
  InvalidVpcId: 'invalid VPC ID',
  InvalidProtocol: 'invalid protocol: TCP',
  InvalidServiceNameFormat: 'invalid service_name: at most 16 characters of A-Z a-z 0-9 _ -',
  InvalidPort: 'invalid port: an integer from 1 to 65535',
  InvalidServicePort: 'invalid service port: an integer from 1 to 65535',
  PortLimit: 'port mapping limit reached: at most 50',
  InvalidTag: 'invalid tag',
  WhitelistLimit: 'whitelist limit reached: at most 20 entries',
} as const;

export type HuaweiRequestErrorName = keyof typeof REQUEST_MESSAGES;
export type HuaweiErrorName = ErrorName | HuaweiRequestErrorName;

/** a refusal of a Huawei request before it reaches the control plane: a bad body, query or path */
export class HuaweiRequestError extends Error {
  override readonly name: HuaweiErrorName;

  constructor(name: HuaweiErrorName, message?: string) {
    super(message ?? (name in REQUEST_MESSAGES ? REQUEST_MESSAGES[name as HuaweiRequestErrorName] : ERROR_MESSAGES[name as ErrorName]));
    this.name = name;
  }
}

export const HUAWEI_ERRORS = {
  SystemError: { code: 'EndPoint.0001', status: 500 },
  InvalidParameter: { code: 'EndPoint.0002', status: 400 },
  BodyTooLarge: { code: 'EndPoint.0002', status: 413 },
  UnsupportedMediaType: { code: 'EndPoint.0002', status: 415 },
  RequestTimeout: { code: 'EndPoint.0002', status: 408 },
  UriTooLong: { code: 'EndPoint.0002', status: 414 },
  HeadersTooLarge: { code: 'EndPoint.0002', status: 431 },
  AuthFailed: { code: 'EndPoint.0003', status: 401 },
  NotFound: { code: 'EndPoint.0005', status: 404 },
  InvalidLimit: { code: 'EndPoint.0006', status: 400 },
  InvalidAction: { code: 'EndPoint.0007', status: 400 },
  StoreFull: { code: 'EndPoint.0009', status: 507 },
  StoreUnavailable: { code: 'EndPoint.0030', status: 503 },
  StoreConflict: { code: 'EndPoint.0031', status: 409 },
  // A listener that cannot bind: the `error` entry of the service or endpoint it fails (never an API answer).
  PrivilegedPort: { code: 'EndPoint.0011', status: 503 },
  ListenFailed: { code: 'EndPoint.0012', status: 503 },
  NotReady: { code: 'EndPoint.0013', status: 503 },
  InvalidOffset: { code: 'EndPoint.0010', status: 400 },
  InvalidProjectId: { code: 'EndPoint.0014', status: 403 },
  BatchLimit: { code: 'EndPoint.0016', status: 400 },
  InvalidSortKey: { code: 'EndPoint.0017', status: 400 },
  InvalidSortDir: { code: 'EndPoint.0018', status: 400 },
  InvalidStatus: { code: 'EndPoint.0019', status: 400 },
  InvalidVpcId: { code: 'EndPoint.0020', status: 400 },
  InvalidSubnetId: { code: 'EndPoint.0023', status: 400 },
  NotEndpointSubnet: { code: 'EndPoint.0023', status: 400 },
  // vpcep-sim's zones (README "Zones"): Huawei publishes no code for them
  InvalidZone: { code: 'EndPoint.0002', status: 400 },
  ZoneTaken: { code: 'EndPoint.0002', status: 400 },
  InvalidRouteTable: { code: 'EndPoint.1019', status: 400 },
  VpcNotFound: { code: 'EndPoint.2001', status: 404 },
  ServiceNotFound: { code: 'EndPoint.2003', status: 404 },
  ServiceUnavailable: { code: 'EndPoint.2004', status: 400 },
  EndpointNotFound: { code: 'EndPoint.2006', status: 404 },
  NotWhitelisted: { code: 'EndPoint.2012', status: 403 },
  NotOfService: { code: 'EndPoint.2013', status: 400 },
  BeingDeleted: { code: 'EndPoint.2018', status: 409 },
  BeingCreated: { code: 'EndPoint.2019', status: 409 },
  OneEndpointOnly: { code: 'EndPoint.2031', status: 400 },
  RouteTableTaken: { code: 'EndPoint.2039', status: 409 },
  RouteManaged: { code: 'EndPoint.2040', status: 400 },
  RouteExists: { code: 'EndPoint.0002', status: 400 },
  RouteNotFound: { code: 'EndPoint.0002', status: 400 },
  NetworkNotInVpc: { code: 'EndPoint.2037', status: 400 },
  InvalidPortIp: { code: 'EndPoint.2041', status: 400 },
  PortIpInUse: { code: 'EndPoint.2042', status: 409 },
  PortIpNotInSubnet: { code: 'EndPoint.2043', status: 400 },
  InvalidWhitelist: { code: 'EndPoint.2044', status: 400 },
  WhitelistLimit: { code: 'EndPoint.2045', status: 400 },
  InvalidPolicy: { code: 'EndPoint.2048', status: 400 },
  // the Huawei API takes no client token: never answered here
  IdempotencyMismatch: { code: 'EndPoint.0002', status: 400 },
  QuotaExceeded: { code: 'EndPoint.2060', status: 403 },
  VpcLimitExceeded: { code: 'EndPoint.2060', status: 403 },
  SubnetExhausted: { code: 'EndPoint.2061', status: 409 },
  InvalidPermission: { code: 'EndPoint.3002', status: 400 },
  InvalidPortId: { code: 'EndPoint.3003', status: 400 },
  InvalidPort: { code: 'EndPoint.3004', status: 400 },
  InvalidServicePort: { code: 'EndPoint.3043', status: 400 },
  ServiceInUse: { code: 'EndPoint.3006', status: 409 },
  InvalidServerType: { code: 'EndPoint.3021', status: 400 },
  PortConflict: { code: 'EndPoint.3044', status: 400 },
  InvalidState: { code: 'EndPoint.3045', status: 409 },
  AlreadyConnected: { code: 'EndPoint.2014', status: 409 },
  OperatorOwned: { code: 'EndPoint.3046', status: 403 },
  InvalidTag: { code: 'EndPoint.3066', status: 400 },
  TagLimit: { code: 'EndPoint.3067', status: 400 },
  DuplicateTagKey: { code: 'EndPoint.3068', status: 400 },
  PortLimit: { code: 'EndPoint.3074', status: 400 },
  InvalidProtocol: { code: 'EndPoint.3075', status: 400 },
  InvalidServiceNameFormat: { code: 'EndPoint.3076', status: 400 },
  Unsupported: { code: 'EndPoint.3080', status: 400 },
  InvalidConfiguration: { code: 'EndPoint.0002', status: 400 },
  SubnetNotFound: { code: 'EndPoint.4004', status: 404 },
  PortNotFound: { code: 'EndPoint.4012', status: 404 },
  RouteTableNotFound: { code: 'EndPoint.4030', status: 404 },
  // Network load balancers come through the AWS API only; Huawei answers their names (a service
  // whose backend they are) with its closest codes: a load balancer is the port an LB service
  // names (PortNotFound's 4012), a target group or listener a resource that does not exist (0005),
  // a duplicate name or a bad target an invalid parameter (0002), a duplicate listener port a
  // port conflict (3044).
  LoadBalancerNotFound: { code: 'EndPoint.4012', status: 404 },
  TargetGroupNotFound: { code: 'EndPoint.0005', status: 404 },
  ListenerNotFound: { code: 'EndPoint.0005', status: 404 },
  DuplicateLoadBalancerName: { code: 'EndPoint.0002', status: 400 },
  DuplicateTargetGroupName: { code: 'EndPoint.0002', status: 400 },
  DuplicateListener: { code: 'EndPoint.3044', status: 400 },
  InvalidTarget: { code: 'EndPoint.0002', status: 400 },
  // a protected load balancer: a state that refuses the deletion (InvalidState's 3045)
  DeletionProtected: { code: 'EndPoint.3045', status: 409 },
  TargetGroupAssociationLimit: { code: 'EndPoint.0002', status: 400 },
  // The network inventory and load balancers are made through the AWS API only; Huawei's VPCEP API has
  // no codes for them. A resource still in use (a VPC's subnets, a load balancer behind a service, a
  // target group behind a listener): as a service still used by endpoints (EndPoint.3006, 409).
  DependencyViolation: { code: 'EndPoint.3006', status: 409 },
  // a security group that does not exist: Huawei's generic "resource does not exist"
  SecurityGroupNotFound: { code: 'EndPoint.0005', status: 404 },
  SecurityGroupRuleNotFound: { code: 'EndPoint.0005', status: 404 },
  // a bad CIDR, name or rule: an invalid parameter
  CidrConflict: { code: 'EndPoint.0002', status: 400 },
  InvalidVpcRange: { code: 'EndPoint.0002', status: 400 },
  InvalidSubnetRange: { code: 'EndPoint.0002', status: 400 },
  ReservedGroupName: { code: 'EndPoint.0002', status: 400 },
  DefaultSecurityGroupUndeletable: { code: 'EndPoint.0002', status: 400 },
  DuplicateGroupName: { code: 'EndPoint.0002', status: 400 },
  DuplicateRule: { code: 'EndPoint.0002', status: 400 },
  RuleNotFound: { code: 'EndPoint.0002', status: 400 },
  // internet gateways are made through the AWS API only; a Huawei route naming an unknown gateway:
  // a resource that does not exist; attached or not where it should be: an invalid parameter
  InternetGatewayNotFound: { code: 'EndPoint.0005', status: 404 },
  GatewayNotFound: { code: 'EndPoint.0005', status: 404 },
  GatewayNotAttached: { code: 'EndPoint.0002', status: 400 },
  GatewayAlreadyAttached: { code: 'EndPoint.0002', status: 400 },
  SubnetAlreadyAssociated: { code: 'EndPoint.0002', status: 400 },
  AssociationNotFound: { code: 'EndPoint.0005', status: 404 },
  // network ACLs are made through the AWS API only
  NetworkAclNotFound: { code: 'EndPoint.0005', status: 404 },
  NetworkAclEntryExists: { code: 'EndPoint.0002', status: 400 },
  NetworkAclEntryNotFound: { code: 'EndPoint.0005', status: 404 },
  DefaultNetworkAclUndeletable: { code: 'EndPoint.0002', status: 400 },
  // toxics (README "Fault injection"): Huawei has none; a resource that does not exist, a conflict
  ToxicNotFound: { code: 'EndPoint.0005', status: 404 },
  ToxicExists: { code: 'EndPoint.3006', status: 409 },
} as const satisfies Record<HuaweiErrorName, { code: `EndPoint.${string}`; status: number }>;

/** an error as Huawei answers it: its status and exactly {error_code, error_msg} */
export function huaweiError(e: DomainError | HuaweiRequestError): { status: number; body: { error_code: string; error_msg: string } } {
  const entry = HUAWEI_ERRORS[e.name];
  return { status: entry.status, body: { error_code: entry.code, error_msg: boundedMessage(e.message) } };
}

/** an error as raw HTTP parts, for a socket node:http refused before fastify saw a request */
export function huaweiErrorText(e: DomainError | HuaweiRequestError): { status: number; contentType: string; body: string } {
  const { status, body } = huaweiError(e);
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) };
}

/** the code a resource's `error` entry shows (a bind failure, a deleted service) */
export function huaweiCode(name: ErrorName): string {
  return HUAWEI_ERRORS[name].code;
}

/**
 * The name of a code written by vpcepd before issue 12, when stored documents held Huawei codes
 * (`error: {error_code, error_message}`): the first name in the table with that code.
 */
export function nameOfHuaweiCode(code: string): ErrorName | undefined {
  for (const [name, entry] of Object.entries(HUAWEI_ERRORS)) {
    if (entry.code === code && !(name in REQUEST_MESSAGES)) return name as ErrorName;
  }
  return undefined;
}
