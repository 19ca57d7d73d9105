// Every error the control API can return, in one table: the EndPoint.NNNN code, the HTTP status
// and a default message. huawei-vpcep-api.md "Errors" lists the codes; the README's error table is
// checked against this one by test/unit/errors.test.ts.

export const ERRORS = {
  SystemError: { code: 'EndPoint.0001', status: 500, message: 'system error' },
  InvalidParameter: { code: 'EndPoint.0002', status: 400, message: 'invalid parameter' },
  BodyTooLarge: { code: 'EndPoint.0002', status: 413, message: 'request body exceeds 1 MiB' },
  UnsupportedMediaType: { code: 'EndPoint.0002', status: 415, message: 'request body must be application/json' },
  RequestTimeout: { code: 'EndPoint.0002', status: 408, message: 'request timeout: the request was not received in full in time' },
  UriTooLong: { code: 'EndPoint.0002', status: 414, message: 'a path parameter exceeds 100 characters' },
  HeadersTooLarge: { code: 'EndPoint.0002', status: 431, message: 'request headers too large' },
  AuthFailed: { code: 'EndPoint.0003', status: 401, message: 'authentication failed: missing or unknown X-Auth-Token' },
  NotFound: { code: 'EndPoint.0005', status: 404, message: 'resource does not exist' },
  InvalidLimit: { code: 'EndPoint.0006', status: 400, message: 'invalid limit: an integer from 0 to 1000' },
  InvalidAction: { code: 'EndPoint.0007', status: 400, message: 'invalid action' },
  StoreFull: { code: 'EndPoint.0009', status: 507, message: 'the store is full' },
  // A listener that cannot bind: the `error` entry of the service or endpoint it fails (never an API answer).
  PrivilegedPort: { code: 'EndPoint.0011', status: 503, message: 'cannot listen below port 1024 without root or CAP_NET_BIND_SERVICE' },
  ListenFailed: { code: 'EndPoint.0012', status: 503, message: 'cannot listen: the address is in use or not available' },
  NotReady: { code: 'EndPoint.0013', status: 503, message: 'vpcepd is not ready: starting up, or stopping (writes are refused while it drains)' },
  InvalidOffset: { code: 'EndPoint.0010', status: 400, message: 'invalid offset: a non-negative integer' },
  InvalidProjectId: { code: 'EndPoint.0014', status: 403, message: 'invalid project ID: not the caller\'s project' },
  BatchLimit: { code: 'EndPoint.0016', status: 400, message: 'batch limit exceeded' },
  InvalidSortKey: { code: 'EndPoint.0017', status: 400, message: 'invalid sort_key: create_at or update_at' },
  InvalidSortDir: { code: 'EndPoint.0018', status: 400, message: 'invalid sort_dir: asc or desc' },
  InvalidStatus: { code: 'EndPoint.0019', status: 400, message: 'invalid status' },
  InvalidVpcId: { code: 'EndPoint.0020', status: 400, message: 'invalid VPC ID' },
  InvalidSubnetId: { code: 'EndPoint.0023', status: 400, message: 'invalid subnet_id' },
  InvalidRouteTable: { code: 'EndPoint.1019', status: 400, message: 'invalid route table ID' },
  VpcNotFound: { code: 'EndPoint.2001', status: 404, message: 'VPC does not exist' },
  ServiceNotFound: { code: 'EndPoint.2003', status: 404, message: 'endpoint service does not exist' },
  ServiceUnavailable: { code: 'EndPoint.2004', status: 400, message: 'endpoint service is not available' },
  EndpointNotFound: { code: 'EndPoint.2006', status: 404, message: 'endpoint does not exist' },
  NotWhitelisted: { code: 'EndPoint.2012', status: 403, message: 'no permission to connect: the account is not in the service\'s whitelist' },
  NotOfService: { code: 'EndPoint.2013', status: 400, message: 'endpoint does not belong to the endpoint service' },
  BeingDeleted: { code: 'EndPoint.2018', status: 409, message: 'resource is being deleted' },
  BeingCreated: { code: 'EndPoint.2019', status: 409, message: 'resource is being created' },
  OneEndpointOnly: { code: 'EndPoint.2031', status: 400, message: 'only one endpoint is allowed per call' },
  RouteTableTaken: { code: 'EndPoint.2039', status: 409, message: 'the route table already has a route to this service through another endpoint' },
  RouteManaged: { code: 'EndPoint.2040', status: 400, message: 'local and endpoint routes cannot be changed through the route-table API' },
  NetworkNotInVpc: { code: 'EndPoint.2037', status: 400, message: 'network does not belong to the VPC' },
  InvalidPortIp: { code: 'EndPoint.2041', status: 400, message: 'invalid port_ip' },
  PortIpInUse: { code: 'EndPoint.2042', status: 409, message: 'port_ip is in use' },
  PortIpNotInSubnet: { code: 'EndPoint.2043', status: 400, message: 'port_ip is not in the subnet' },
  InvalidWhitelist: { code: 'EndPoint.2044', status: 400, message: 'invalid whitelist entry: an IPv4 address or CIDR' },
  WhitelistLimit: { code: 'EndPoint.2045', status: 400, message: 'whitelist limit reached: at most 20 entries' },
  InvalidPolicy: { code: 'EndPoint.2048', status: 400, message: 'invalid policy' },
  QuotaExceeded: { code: 'EndPoint.2060', status: 403, message: 'quota exceeded' },
  SubnetExhausted: { code: 'EndPoint.2061', status: 409, message: 'no free private IP left in the subnet' },
  InvalidPermission: { code: 'EndPoint.3002', status: 400, message: 'invalid permission: iam:domain::<domain_id> or *' },
  InvalidPortId: { code: 'EndPoint.3003', status: 400, message: 'invalid port ID' },
  InvalidPort: { code: 'EndPoint.3004', status: 400, message: 'invalid port: an integer from 1 to 65535' },
  ServiceInUse: { code: 'EndPoint.3006', status: 409, message: 'endpoint service is in use by endpoints in accepted or creating status' },
  InvalidServerType: { code: 'EndPoint.3021', status: 400, message: 'invalid server_type: VM or LB' },
  PortConflict: { code: 'EndPoint.3044', status: 400, message: 'port conflict: duplicate client_port' },
  InvalidState: { code: 'EndPoint.3045', status: 409, message: 'cannot be done in the current status' },
  OperatorOwned: { code: 'EndPoint.3046', status: 403, message: 'operator-run public services cannot be changed by accounts' },
  InvalidTag: { code: 'EndPoint.3066', status: 400, message: 'invalid tag' },
  TagLimit: { code: 'EndPoint.3067', status: 400, message: 'tag limit reached: at most 20 tags per resource' },
  DuplicateTagKey: { code: 'EndPoint.3068', status: 400, message: 'duplicate tag key' },
  PortLimit: { code: 'EndPoint.3074', status: 400, message: 'port mapping limit reached: at most 50' },
  InvalidProtocol: { code: 'EndPoint.3075', status: 400, message: 'invalid protocol: TCP' },
  InvalidServiceNameFormat: { code: 'EndPoint.3076', status: 400, message: 'invalid service_name: at most 16 characters of A-Z a-z 0-9 _ -' },
  Unsupported: { code: 'EndPoint.3080', status: 400, message: 'not supported by this simulator' },
  SubnetNotFound: { code: 'EndPoint.4004', status: 404, message: 'subnet not found' },
  PortNotFound: { code: 'EndPoint.4012', status: 404, message: 'port not found' },
  RouteTableNotFound: { code: 'EndPoint.4030', status: 404, message: 'route table not found' },
} as const satisfies Record<string, { code: string; status: number; message: string }>;

export type ErrorName = keyof typeof ERRORS;

/** An error the API answers with; thrown by the control plane, serialized by the API layer. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly errorName: ErrorName;

  constructor(name: ErrorName, message?: string) {
    const entry = ERRORS[name];
    super(message ?? entry.message);
    this.name = 'ApiError';
    this.errorName = name;
    this.code = entry.code;
    this.status = entry.status;
  }

  toBody(): { error_code: string; error_msg: string } {
    return { error_code: this.code, error_msg: this.message };
  }
}
