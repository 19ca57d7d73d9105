// The AWS dialect's actions: each API (EC2, ELBv2, STS) is a table from the `Action` parameter to
// a handler. The plugin authenticates the request (SigV4), parses its form into QueryParams,
// looks the action up (none: InvalidAction), answers DryRun, calls the handler and serializes what
// it returns (EC2: the elements after <requestId>; ELBv2 and STS: the elements of <XResult>). A
// handler reads its parameters, calls the control plane with neutral commands and renders the
// records in AWS's shapes; the domain's errors (DomainError by name) are mapped to AWS codes by the
// plugin's table, and a handler throws AwsRequestError for what only AWS's parameters can get wrong.
import type { ControlPlane } from '../../control/control-plane.js';
import type { Account } from '../../model/types.js';
import type { QueryParams } from './query.js';
import type { XmlFields } from './xml.js';

/** the credential scope's service of a request, which picks the API */
export type AwsApi = 'ec2' | 'elasticloadbalancing' | 'sts';

export interface AwsCall {
  readonly api: AwsApi;
  readonly action: string;
  /** the account the request's access key acts as */
  readonly caller: Account;
  /** the caller's 12-digit AWS account id */
  readonly accountId: string;
  /** the AWS region that names and ARNs carry (awsRegion() of the config's region) */
  readonly region: string;
  readonly params: QueryParams;
  readonly control: ControlPlane;
  readonly requestId: string;
}

export type AwsAction = (call: AwsCall) => XmlFields | Promise<XmlFields>;

export type ActionTable = Readonly<Record<string, AwsAction>>;

/** a mistake only AWS's parameters can make (the domain never sees them): its code and message as AWS words them */
export class AwsRequestError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = 'AwsRequestError';
    this.code = code;
    this.status = status;
  }
}
