// STS, the one action the SDKs, the CLI and Terraform need of it (aws-ec2-api.md §0.5: Terraform
// calls GetCallerIdentity on every plan and apply): who the caller's key acts as.
import type { ActionTable } from './actions.js';
import { accountRootArn } from './ids.js';

export const STS_BASE_ACTIONS = {
  // every key acts as its account's root user: vpcep-sim has no IAM users (§6.3); AWS gives a root
  // user's UserId as the account id
  GetCallerIdentity: ({ accountId }) => ({ UserId: accountId, Account: accountId, Arn: accountRootArn(accountId) }),
} as const satisfies ActionTable;
