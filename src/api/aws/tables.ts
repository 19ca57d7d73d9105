// The AWS dialect's actions, composed in one place: each API's table is the spread of the files
// that implement its actions (one line per file). The README's "Supported actions" table lists
// exactly these (test/unit/aws-errors.test.ts).
import type { ActionTable, AwsApi } from './actions.js';
import { EC2_BASE_ACTIONS } from './ec2-base.js';
import { EC2_ENDPOINT_ACTIONS } from './ec2-endpoints.js';
import { EC2_INTERNET_GATEWAY_ACTIONS } from './ec2-internet-gateways.js';
import { EC2_INVENTORY_ACTIONS } from './ec2-inventory.js';
import { EC2_NETWORK_ACL_ACTIONS } from './ec2-network-acls.js';
import { EC2_NETWORK_ACTIONS } from './ec2-network.js';
import { EC2_NOTIFICATION_ACTIONS } from './ec2-notifications.js';
import { EC2_PREFIX_LIST_ACTIONS } from './ec2-prefix-lists.js';
import { EC2_PRIVATELINK_ACTIONS } from './ec2-privatelink.js';
import { EC2_TAG_ACTIONS } from './ec2-tags.js';
import { EC2_SERVICE_ACTIONS } from './ec2-services.js';
import { ELBV2_LOAD_BALANCER_ACTIONS } from './elbv2.js';
import { STS_BASE_ACTIONS } from './sts.js';

export const EC2_ACTIONS: ActionTable = {
  ...EC2_BASE_ACTIONS,
  ...EC2_PRIVATELINK_ACTIONS,
  ...EC2_ENDPOINT_ACTIONS,
  ...EC2_NETWORK_ACTIONS,
  ...EC2_TAG_ACTIONS,
  ...EC2_PREFIX_LIST_ACTIONS,
  ...EC2_NOTIFICATION_ACTIONS,
  ...EC2_SERVICE_ACTIONS,
  ...EC2_INVENTORY_ACTIONS,
  ...EC2_INTERNET_GATEWAY_ACTIONS,
  ...EC2_NETWORK_ACL_ACTIONS,
};

export const ELBV2_ACTIONS: ActionTable = {
  ...ELBV2_LOAD_BALANCER_ACTIONS,
};

export const STS_ACTIONS: ActionTable = {
  ...STS_BASE_ACTIONS,
};

export const AWS_ACTIONS: Readonly<Record<AwsApi, ActionTable>> = {
  ec2: EC2_ACTIONS,
  elasticloadbalancing: ELBV2_ACTIONS,
  sts: STS_ACTIONS,
};
