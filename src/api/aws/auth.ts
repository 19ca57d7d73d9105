// Who an AWS request is from (issue 12, "Accounts"; aws-ec2-api.md §6): the credential scope's
// service picks the API, the access key id the account, and the signature is checked when the
// config declares keys (verify) and not when it declares none and one account (lenient: any
// credentials act as that account, as LocalStack's do); several accounts and no key: every
// request is refused (closed), for no key could stand for one of them.
//
// A request with no signature at all (`aws --no-sign-request`, a bare curl): in lenient mode it
// acts as the default account too, so that an unsigned call works where any signature would; the
// API is then the one its `Version` names (EC2 when it names none). In verify mode it is refused
// with MissingAuthenticationToken (403), as AWS refuses it. vpcep-sim issues no temporary
// credentials: in verify mode a request carrying X-Amz-Security-Token is refused as AWS refuses a
// session token that is not its key's; lenient mode takes it, as it takes any credentials.
import type { ControlPlane } from '../../control/control-plane.js';
import type { Account } from '../../model/types.js';
import { AwsRequestError, type AwsApi } from './actions.js';
import { readCredentialScope, signatureParts, SIGV4_FAILURES, SigV4Verifier, type SigV4Failure, type SignedRequest } from './sigv4.js';

export const AWS_APIS: readonly AwsApi[] = ['ec2', 'elasticloadbalancing', 'sts'];

/** the API versions each API answers (the SDKs, the CLI and Terraform send exactly these) */
export const API_VERSIONS = {
  ec2: '2016-11-15',
  elasticloadbalancing: '2015-12-01',
  sts: '2011-06-15',
} as const satisfies Record<AwsApi, string>;

export interface AwsAuthenticated {
  readonly api: AwsApi;
  readonly caller: Account;
}

function isAwsApi(s: string): s is AwsApi {
  return (AWS_APIS as readonly string[]).includes(s);
}

/** the API an unsigned request asks for, by its Version parameter */
export function apiOfVersion(version: string | undefined): AwsApi {
  for (const api of AWS_APIS) if (API_VERSIONS[api] === version) return api;
  return 'ec2';
}

/** the API a request claims (its credential scope's service), for answering its errors before it is authenticated; null: none of ours */
export function claimedApi(req: SignedRequest): AwsApi | null {
  const scope = readCredentialScope(req);
  if (scope.ok) return isAwsApi(scope.service) ? scope.service : null;
  // a signature malformed elsewhere (its Signature, a missing X-Amz-Date) still names its service:
  // its error is answered in that API's shape (an STS client reads ErrorResponse, not EC2's Response)
  const header = req.headers.authorization;
  let credential = typeof header === 'string' ? /Credential=([^,\s]*)/.exec(header)?.[1] : undefined;
  if (credential === undefined && req.query.includes('X-Amz-Credential')) {
    try {
      credential = new URLSearchParams(req.query).get('X-Amz-Credential') ?? undefined;
    } catch {
      credential = undefined;
    }
  }
  const service = credential?.split('/')[3];
  return service !== undefined && isAwsApi(service) ? service : null;
}

function refusal(f: Pick<SigV4Failure, 'code' | 'status' | 'message'>): AwsRequestError {
  return new AwsRequestError(f.code, f.message, f.status);
}

/** why every AWS request is refused when several accounts and no key are configured (closed) */
const CLOSED = 'no account of this vpcepd has an AWS access key, and with several accounts no key stands for one: ' +
  'give each account accounts[].aws.access_key_id and secret_access_key in the config (README "The AWS API")';

/** an unknown access key, in the API's words: EC2 AuthFailure (401), STS and ELBv2 InvalidClientTokenId (403) */
function unknownKey(api: AwsApi, closed: boolean): AwsRequestError {
  const why = closed ? `: ${CLOSED}` : '';
  return api === 'ec2'
    ? new AwsRequestError(SIGV4_FAILURES.unknownKey.code, `AWS was not able to validate the provided access credentials${why}`, SIGV4_FAILURES.unknownKey.status)
    : new AwsRequestError('InvalidClientTokenId', `The security token included in the request is invalid.${why ? ` ${CLOSED}` : ''}`, 403);
}

/**
 * a date outside the window, in the API's words: EC2 RequestExpired (400, an EC2 common error); STS
 * and ELBv2 SignatureDoesNotMatch (403) "Signature expired: ..." as AWS's query-protocol front answers
 */
function expired(api: AwsApi, message: string): AwsRequestError {
  return api === 'ec2'
    ? new AwsRequestError(SIGV4_FAILURES.expired.code, message, SIGV4_FAILURES.expired.status)
    : new AwsRequestError(SIGV4_FAILURES.signatureMismatch.code, message, SIGV4_FAILURES.signatureMismatch.status);
}

/** X-Amz-Security-Token in a header or in a presigned query string */
function hasSessionToken(req: SignedRequest): boolean {
  return req.headers['x-amz-security-token'] !== undefined || /(?:^|&)X-Amz-Security-Token=/.test(req.query);
}

/** a session token that is not the key's: EC2 AuthFailure (401, §1.3), STS and ELBv2 InvalidClientTokenId (403), AWS's words */
function invalidSessionToken(api: AwsApi): AwsRequestError {
  const message = 'The security token included in the request is invalid.';
  return api === 'ec2'
    ? new AwsRequestError(SIGV4_FAILURES.unknownKey.code, message, SIGV4_FAILURES.unknownKey.status)
    : new AwsRequestError('InvalidClientTokenId', message, 403);
}

export class AwsAuthenticator {
  private readonly verifier: SigV4Verifier;

  constructor(private readonly control: ControlPlane, now?: () => number) {
    this.verifier = new SigV4Verifier({ secretFor: (akid) => control.accountByAccessKey(akid)?.secret ?? undefined, now });
  }

  /**
   * The API and the caller of a request, or an AwsRequestError with AWS's code. `version` is the
   * request's Version parameter, read only for an unsigned request.
   */
  authenticate(req: SignedRequest, version: () => string | undefined): AwsAuthenticated {
    // read once: the scope picks the API and the account, the rest is verified
    const parts = signatureParts(req);
    const scope = 'scope' in parts ? parts.scope : parts;
    if (!scope.ok) {
      if (scope.reason === 'missing') {
        // lenient: any key (the empty one too) acts as the default account; verify: no key, no entry
        const lenient = this.control.accountByAccessKey('');
        if (lenient && lenient.secret === null) return { api: apiOfVersion(version()), caller: lenient.account };
        if (this.control.awsMode === 'closed') throw refusal({ ...scope, message: `${scope.message}: ${CLOSED}` });
      }
      throw refusal(scope);
    }
    if (!isAwsApi(scope.service)) {
      // AWS's words for a key scoped to another service
      throw new AwsRequestError('SignatureDoesNotMatch',
        `Credential should be scoped to correct service: the credential scope names '${scope.service.slice(0, 40)}'; vpcepd answers ${AWS_APIS.join(', ')}`, 403);
    }
    const api = scope.service;
    const known = this.control.accountByAccessKey(scope.accessKeyId);
    if (!known) throw unknownKey(api, this.control.awsMode === 'closed');
    if (known.secret !== null) {
      const r = this.verifier.verify(req, parts);
      if (!r.ok) throw r.reason === 'unknownKey' ? unknownKey(api, false) : r.reason === 'expired' ? expired(api, r.message) : refusal(r);
      // vpcep-sim issues no temporary credentials: a session token signed with a long-term key
      // belongs to none of its keys, and AWS refuses one that is not the key's
      if (hasSessionToken(req)) throw invalidSessionToken(api);
    }
    return { api, caller: known.account };
  }
}
