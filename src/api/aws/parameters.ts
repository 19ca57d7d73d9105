// Which parameters an action takes: AWS's own names for it (parameter-names.ts, generated from
// AWS's models), so that a misspelt or invented name is refused as AWS refuses it instead of being
// ignored (EC2: UnknownParameter "The parameter X is not recognized", aws-cli#16). A name AWS has
// and vpcep-sim does not act on is still taken: what the SDKs, the aws CLI and Terraform send
// stays accepted. Only the top-level name is checked (`SubnetId` of `SubnetId.2`, `Subnets` of
// `Subnets.member.1`, `DnsOptions` of `DnsOptions.DnsRecordIpType`); the indexes are the parser's.
import type { AwsApi } from './actions.js';
import { AWS_PARAMETER_NAMES } from './parameter-names.js';
import { QueryParseError, type QueryStruct } from './query.js';

/** what every request carries whatever its action (the SigV4 query signature's X-Amz-* never reach the parsed form) */
const COMMON = ['Action', 'Version'] as const;

function known(actions: Readonly<Record<string, readonly string[]>>): ReadonlyMap<string, ReadonlySet<string>> {
  return new Map(Object.entries(actions).map(([action, names]) => [action, new Set([...COMMON, ...names])]));
}

const KNOWN: Readonly<Record<AwsApi, ReadonlyMap<string, ReadonlySet<string>>>> = {
  ec2: known(AWS_PARAMETER_NAMES.ec2),
  elasticloadbalancing: known(AWS_PARAMETER_NAMES.elasticloadbalancing),
  sts: known(AWS_PARAMETER_NAMES.sts),
};

/** refuses the first top-level parameter of `form` that AWS's `action` does not take (UnknownParameter; ELBv2 and STS: ValidationError) */
export function refuseUnknownParameters(api: AwsApi, action: string, form: QueryStruct): void {
  // every implemented action has its names (test/unit/aws-parameters.test.ts)
  const names = KNOWN[api].get(action);
  if (names === undefined) return;
  for (const name of Object.keys(form)) {
    if (!names.has(name)) throw new QueryParseError('UnknownParameter', `The parameter ${name} is not recognized`, name);
  }
}
