// The AWS dialect's error tables: every error name of the domain with the code and HTTP status
// each API answers it with (aws-ec2-api.md §1.3, §1.6; EC2's codes are strings the clients match by
// name, ELBv2's and STS's come from their models). The compiler checks each table is total;
// test/unit/aws-errors.test.ts checks EC2_ERRORS against the README. A client's mistake is never
// a 5xx: the Go SDK (Terraform) retries 5xx up to 25 times. No AWS error code is written outside
// this file but the ones only AWS's own parameters can get wrong (AwsRequestError, QueryParseError,
// SIGV4_FAILURES).
import { DomainError, type ErrorName } from '../../model/errors.js';
import { AwsRequestError, type AwsApi } from './actions.js';
import { QueryParseError } from './query.js';
import { ec2Error, ELBV2_NAMESPACE, queryError, STS_NAMESPACE, XML_CONTENT_TYPE } from './xml.js';
import { boundedMessage } from '../framework-errors.js';

interface AwsErrorEntry {
  readonly code: string;
  readonly status: number;
}

/** what the one HTTP server refuses for every dialect, as any AWS API answers it */
const SERVER_ERRORS = {
  SystemError: { code: 'InternalError', status: 500 },
  BodyTooLarge: { code: 'RequestEntityTooLarge', status: 413 },
  UnsupportedMediaType: { code: 'UnsupportedMediaType', status: 415 },
  RequestTimeout: { code: 'RequestTimeout', status: 408 },
  UriTooLong: { code: 'RequestURITooLong', status: 414 },
  HeadersTooLarge: { code: 'RequestHeaderFieldsTooLarge', status: 431 },
  // an unknown route (a path other than /): AWS answers any path of its Query endpoints by Action
  NotFound: { code: 'InvalidAction', status: 400 },
  // a drain or a start: AWS's common error for "try again later"; the SDKs retry it
  NotReady: { code: 'ServiceUnavailable', status: 503 },
  // the store cannot take more: the daemon's limit, not the caller's mistake
  StoreFull: { code: 'InsufficientCapacity', status: 507 },
  // the shared store (etcd) lost, or a mutation that kept losing its compare-and-swap: try again (the SDKs retry it)
  StoreUnavailable: { code: 'ServiceUnavailable', status: 503 },
  StoreConflict: { code: 'ServiceUnavailable', status: 503 },
} as const satisfies Partial<Record<ErrorName, AwsErrorEntry>>;

export const EC2_ERRORS = {
  ...SERVER_ERRORS,
  AuthFailed: { code: 'AuthFailure', status: 401 },
  InvalidParameter: { code: 'InvalidParameterValue', status: 400 },
  // a listener's bind failure is a resource's error entry (never an API answer); in AWS's words
  PrivilegedPort: { code: 'InvalidParameterValue', status: 400 },
  ListenFailed: { code: 'InsufficientCapacity', status: 503 },
  InvalidSubnetId: { code: 'InvalidSubnetID.NotFound', status: 400 },
  NotEndpointSubnet: { code: 'InvalidParameterValue', status: 400 },
  InvalidZone: { code: 'InvalidParameterValue', status: 400 },
  // an endpoint's two subnets in one zone (terraform-aws-modules/terraform-aws-vpc#451: AWS's code and status)
  ZoneTaken: { code: 'DuplicateSubnetsInSameZone', status: 400 },
  InvalidRouteTable: { code: 'InvalidRouteTableID.NotFound', status: 400 },
  VpcNotFound: { code: 'InvalidVpcID.NotFound', status: 400 },
  ServiceNotFound: { code: 'InvalidVpcEndpointServiceId.NotFound', status: 400 },
  ServiceUnavailable: { code: 'IncorrectState', status: 400 },
  EndpointNotFound: { code: 'InvalidVpcEndpointId.NotFound', status: 400 },
  // §1.6: a service the caller is not allow-listed for is InvalidServiceName, as a missing one
  NotWhitelisted: { code: 'InvalidServiceName', status: 400 },
  NotOfService: { code: 'InvalidVpcEndpoint.NotFound', status: 400 },
  BeingDeleted: { code: 'IncorrectState', status: 400 },
  BeingCreated: { code: 'IncorrectState', status: 400 },
  RouteTableTaken: { code: 'RouteAlreadyExists', status: 400 },
  RouteManaged: { code: 'InvalidParameterValue', status: 400 },
  // aws-ec2-api.md: CreateRoute to a destination the table routes already
  RouteExists: { code: 'RouteAlreadyExists', status: 400 },
  // DeleteRoute of a route the table has not (Terraform's aws_route destroy takes it as gone)
  RouteNotFound: { code: 'InvalidRoute.NotFound', status: 400 },
  NetworkNotInVpc: { code: 'InvalidParameterValue', status: 400 },
  InvalidPortIp: { code: 'InvalidParameterValue', status: 400 },
  PortIpInUse: { code: 'InvalidIPAddress.InUse', status: 400 },
  PortIpNotInSubnet: { code: 'InvalidParameterValue', status: 400 },
  InvalidWhitelist: { code: 'InvalidParameterValue', status: 400 },
  InvalidPolicy: { code: 'InvalidParameterValue', status: 400 },
  IdempotencyMismatch: { code: 'IdempotentParameterMismatch', status: 400 },
  QuotaExceeded: { code: 'VpcEndpointLimitExceeded', status: 400 },
  VpcLimitExceeded: { code: 'VpcLimitExceeded', status: 400 },
  SubnetExhausted: { code: 'InsufficientFreeAddressesInSubnet', status: 400 },
  InvalidPermission: { code: 'InvalidParameterValue', status: 400 },
  ServiceInUse: { code: 'ExistingVpcEndpointConnections', status: 400 },
  InvalidServerType: { code: 'InvalidParameterValue', status: 400 },
  PortConflict: { code: 'InvalidParameterValue', status: 400 },
  InvalidState: { code: 'IncorrectState', status: 400 },
  AlreadyConnected: { code: 'IncorrectState', status: 400 },
  OperatorOwned: { code: 'UnauthorizedOperation', status: 403 },
  TagLimit: { code: 'TagLimitExceeded', status: 400 },
  DuplicateTagKey: { code: 'InvalidParameterValue', status: 400 },
  Unsupported: { code: 'UnsupportedOperation', status: 400 },
  InvalidConfiguration: { code: 'InvalidParameterValue', status: 400 },
  SubnetNotFound: { code: 'InvalidSubnetID.NotFound', status: 400 },
  PortNotFound: { code: 'InvalidNetworkInterfaceID.NotFound', status: 400 },
  RouteTableNotFound: { code: 'InvalidRouteTableID.NotFound', status: 400 },
  // network load balancers reach EC2 only as the NLB ARNs of a service configuration: a bad one is
  // an invalid parameter value; one still used by something else a DependencyViolation (§1.6)
  LoadBalancerNotFound: { code: 'InvalidParameterValue', status: 400 },
  TargetGroupNotFound: { code: 'InvalidParameterValue', status: 400 },
  ListenerNotFound: { code: 'InvalidParameterValue', status: 400 },
  DuplicateLoadBalancerName: { code: 'InvalidParameterValue', status: 400 },
  DuplicateTargetGroupName: { code: 'InvalidParameterValue', status: 400 },
  DuplicateListener: { code: 'InvalidParameterValue', status: 400 },
  InvalidTarget: { code: 'InvalidParameterValue', status: 400 },
  DeletionProtected: { code: 'IncorrectState', status: 400 },
  TargetGroupAssociationLimit: { code: 'InvalidParameterValue', status: 400 },
  DependencyViolation: { code: 'DependencyViolation', status: 400 },
  SecurityGroupNotFound: { code: 'InvalidGroup.NotFound', status: 400 },
  SecurityGroupRuleNotFound: { code: 'InvalidSecurityGroupRuleId.NotFound', status: 400 },
  CidrConflict: { code: 'InvalidSubnet.Conflict', status: 400 },
  // "Error codes for the Amazon EC2 API"
  InvalidVpcRange: { code: 'InvalidVpc.Range', status: 400 },
  InvalidSubnetRange: { code: 'InvalidSubnet.Range', status: 400 },
  DefaultSecurityGroupUndeletable: { code: 'CannotDelete', status: 400 },
  ReservedGroupName: { code: 'InvalidGroup.Reserved', status: 400 },
  DuplicateGroupName: { code: 'InvalidGroup.Duplicate', status: 400 },
  DuplicateRule: { code: 'InvalidPermission.Duplicate', status: 400 },
  RuleNotFound: { code: 'InvalidPermission.NotFound', status: 400 },
  // EC2's common client error codes for internet gateways (and CreateRoute's unknown GatewayId)
  InternetGatewayNotFound: { code: 'InvalidInternetGatewayID.NotFound', status: 400 },
  GatewayNotFound: { code: 'InvalidGatewayID.NotFound', status: 400 },
  GatewayNotAttached: { code: 'Gateway.NotAttached', status: 400 },
  GatewayAlreadyAttached: { code: 'Resource.AlreadyAssociated', status: 400 },
  SubnetAlreadyAssociated: { code: 'Resource.AlreadyAssociated', status: 400 },
  AssociationNotFound: { code: 'InvalidAssociationID.NotFound', status: 400 },
  // EC2's common client error codes for network ACLs; the default ACL's refusal is unconfirmed (README)
  NetworkAclNotFound: { code: 'InvalidNetworkAclID.NotFound', status: 400 },
  NetworkAclEntryExists: { code: 'NetworkAclEntryAlreadyExists', status: 400 },
  NetworkAclEntryNotFound: { code: 'InvalidNetworkAclEntry.NotFound', status: 400 },
  DefaultNetworkAclUndeletable: { code: 'Client.CannotDelete', status: 400 },
  // toxics come through the Huawei-style and Toxiproxy APIs only
  ToxicNotFound: { code: 'InvalidParameterValue', status: 400 },
  ToxicExists: { code: 'InvalidParameterValue', status: 400 },
} as const satisfies Record<ErrorName, AwsErrorEntry>;

/**
 * The query protocol's APIs (ELBv2, STS): an unknown key is InvalidClientTokenId (403) and a bad
 * parameter ValidationError, all of them HTTP 400 as in the ELBv2 model's error shapes.
 */
const QUERY_ERRORS = {
  ...SERVER_ERRORS,
  AuthFailed: { code: 'InvalidClientTokenId', status: 403 },
  InvalidParameter: { code: 'ValidationError', status: 400 },
  PrivilegedPort: { code: 'ValidationError', status: 400 },
  ListenFailed: { code: 'InsufficientCapacity', status: 503 },
  InvalidSubnetId: { code: 'SubnetNotFound', status: 400 },
  NotEndpointSubnet: { code: 'ValidationError', status: 400 },
  InvalidZone: { code: 'ValidationError', status: 400 },
  // ELBv2: "A load balancer cannot be attached to multiple subnets in the same Availability Zone"
  ZoneTaken: { code: 'InvalidConfigurationRequest', status: 400 },
  InvalidRouteTable: { code: 'ValidationError', status: 400 },
  VpcNotFound: { code: 'ValidationError', status: 400 },
  ServiceNotFound: { code: 'ValidationError', status: 400 },
  ServiceUnavailable: { code: 'InvalidConfigurationRequest', status: 400 },
  EndpointNotFound: { code: 'ValidationError', status: 400 },
  NotWhitelisted: { code: 'AccessDenied', status: 403 },
  NotOfService: { code: 'ValidationError', status: 400 },
  BeingDeleted: { code: 'InvalidConfigurationRequest', status: 400 },
  BeingCreated: { code: 'InvalidConfigurationRequest', status: 400 },
  RouteTableTaken: { code: 'InvalidConfigurationRequest', status: 400 },
  RouteManaged: { code: 'ValidationError', status: 400 },
  RouteExists: { code: 'ValidationError', status: 400 },
  RouteNotFound: { code: 'ValidationError', status: 400 },
  NetworkNotInVpc: { code: 'InvalidSubnet', status: 400 },
  InvalidPortIp: { code: 'ValidationError', status: 400 },
  PortIpInUse: { code: 'InvalidConfigurationRequest', status: 400 },
  PortIpNotInSubnet: { code: 'InvalidConfigurationRequest', status: 400 },
  InvalidWhitelist: { code: 'ValidationError', status: 400 },
  InvalidPolicy: { code: 'ValidationError', status: 400 },
  IdempotencyMismatch: { code: 'ValidationError', status: 400 },
  QuotaExceeded: { code: 'TooManyLoadBalancers', status: 400 },
  VpcLimitExceeded: { code: 'ValidationError', status: 400 },
  SubnetExhausted: { code: 'InvalidSubnet', status: 400 },
  InvalidPermission: { code: 'ValidationError', status: 400 },
  ServiceInUse: { code: 'ResourceInUse', status: 400 },
  InvalidServerType: { code: 'ValidationError', status: 400 },
  PortConflict: { code: 'DuplicateListener', status: 400 },
  InvalidState: { code: 'InvalidConfigurationRequest', status: 400 },
  AlreadyConnected: { code: 'InvalidConfigurationRequest', status: 400 },
  OperatorOwned: { code: 'AccessDenied', status: 403 },
  TagLimit: { code: 'TooManyTags', status: 400 },
  DuplicateTagKey: { code: 'DuplicateTagKeys', status: 400 },
  Unsupported: { code: 'OperationNotPermitted', status: 400 },
  InvalidConfiguration: { code: 'InvalidConfigurationRequest', status: 400 },
  SubnetNotFound: { code: 'SubnetNotFound', status: 400 },
  PortNotFound: { code: 'ValidationError', status: 400 },
  RouteTableNotFound: { code: 'ValidationError', status: 400 },
  // the ELBv2 model's error shapes, each HTTP 400
  LoadBalancerNotFound: { code: 'LoadBalancerNotFound', status: 400 },
  TargetGroupNotFound: { code: 'TargetGroupNotFound', status: 400 },
  ListenerNotFound: { code: 'ListenerNotFound', status: 400 },
  DuplicateLoadBalancerName: { code: 'DuplicateLoadBalancerName', status: 400 },
  DuplicateTargetGroupName: { code: 'DuplicateTargetGroupName', status: 400 },
  DuplicateListener: { code: 'DuplicateListener', status: 400 },
  InvalidTarget: { code: 'InvalidTarget', status: 400 },
  DeletionProtected: { code: 'OperationNotPermitted', status: 400 },
  TargetGroupAssociationLimit: { code: 'TargetGroupAssociationLimit', status: 400 },
  DependencyViolation: { code: 'ResourceInUse', status: 400 },
  SecurityGroupNotFound: { code: 'InvalidSecurityGroup', status: 400 },
  SecurityGroupRuleNotFound: { code: 'ValidationError', status: 400 },
  CidrConflict: { code: 'ValidationError', status: 400 },
  InvalidVpcRange: { code: 'ValidationError', status: 400 },
  InvalidSubnetRange: { code: 'ValidationError', status: 400 },
  DefaultSecurityGroupUndeletable: { code: 'ValidationError', status: 400 },
  ReservedGroupName: { code: 'ValidationError', status: 400 },
  DuplicateGroupName: { code: 'ValidationError', status: 400 },
  DuplicateRule: { code: 'ValidationError', status: 400 },
  RuleNotFound: { code: 'ValidationError', status: 400 },
  InternetGatewayNotFound: { code: 'ValidationError', status: 400 },
  GatewayNotFound: { code: 'ValidationError', status: 400 },
  GatewayNotAttached: { code: 'ValidationError', status: 400 },
  GatewayAlreadyAttached: { code: 'ValidationError', status: 400 },
  SubnetAlreadyAssociated: { code: 'ValidationError', status: 400 },
  AssociationNotFound: { code: 'ValidationError', status: 400 },
  NetworkAclNotFound: { code: 'ValidationError', status: 400 },
  NetworkAclEntryExists: { code: 'ValidationError', status: 400 },
  NetworkAclEntryNotFound: { code: 'ValidationError', status: 400 },
  DefaultNetworkAclUndeletable: { code: 'ValidationError', status: 400 },
  ToxicNotFound: { code: 'ValidationError', status: 400 },
  ToxicExists: { code: 'ValidationError', status: 400 },
} as const satisfies Record<ErrorName, AwsErrorEntry>;

export const ELBV2_ERRORS = QUERY_ERRORS satisfies Record<ErrorName, AwsErrorEntry>;
export const STS_ERRORS = QUERY_ERRORS satisfies Record<ErrorName, AwsErrorEntry>;

const TABLES: Readonly<Record<AwsApi, Readonly<Record<ErrorName, AwsErrorEntry>>>> = {
  ec2: EC2_ERRORS,
  elasticloadbalancing: ELBV2_ERRORS,
  sts: STS_ERRORS,
};

/** an error as an AWS API answers it */
export interface AwsErrorAnswer {
  readonly code: string;
  readonly status: number;
  readonly message: string;
}

/** what the dialect answers: the domain's errors by the API's table, AWS's own parameter errors as they are */
export type AwsAnswerable = DomainError | AwsRequestError | QueryParseError;

export function awsErrorOf(api: AwsApi, e: AwsAnswerable): AwsErrorAnswer {
  if (e instanceof DomainError) {
    const { code, status } = TABLES[api][e.name];
    return { code, status, message: e.message };
  }
  if (e instanceof QueryParseError && api === 'elasticloadbalancing' && e.code === 'MissingParameter' && e.parameter !== 'Action') {
    // ELBv2 names a required parameter left out a ValidationError too (its models have no MissingParameter)
    return { code: 'ValidationError', status: e.status, message: e.message };
  }
  if (e instanceof QueryParseError && api !== 'ec2' && (e.code === 'InvalidParameterValue' || e.code === 'UnknownParameter')) {
    // the query protocol's models name a malformed or unknown parameter ValidationError
    return { code: 'ValidationError', status: e.status, message: e.message };
  }
  return { code: e.code, status: e.status, message: e.message };
}

/** the body and content type of an error: EC2's `<Response><Errors>`, or the query protocol's `<ErrorResponse>` */
export function awsErrorBody(api: AwsApi, e: AwsErrorAnswer, requestId: string): { contentType: string; body: string } {
  const message = boundedMessage(e.message);
  const body = api === 'ec2'
    ? ec2Error({ code: e.code, message }, requestId)
    : queryError(api === 'sts' ? STS_NAMESPACE : ELBV2_NAMESPACE, { type: e.status >= 500 ? 'Receiver' : 'Sender', code: e.code, message }, requestId);
  return { contentType: XML_CONTENT_TYPE, body };
}

/** whether a thrown value is one the dialect answers by its own code */
export function isAwsAnswerable(e: unknown): e is AwsAnswerable {
  return e instanceof DomainError || e instanceof AwsRequestError || e instanceof QueryParseError;
}
