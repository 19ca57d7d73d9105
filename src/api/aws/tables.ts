// The AWS dialect's action tables, by API: each API's actions are spread in from the file that
// holds them (src/api/aws/ec2-*.ts, ...).
import type { ActionTable, AwsApi } from './actions.js';
import { EC2_ENDPOINT_ACTIONS } from './ec2-endpoints.js';
import { EC2_NETWORK_ACTIONS } from './ec2-network.js';
import { EC2_PRIVATELINK_ACTIONS } from './ec2-privatelink.js';

export const EC2_ACTIONS: ActionTable = {
  ...EC2_PRIVATELINK_ACTIONS,
  ...EC2_ENDPOINT_ACTIONS,
  ...EC2_NETWORK_ACTIONS,
};

export const ACTION_TABLES: Readonly<Record<AwsApi, ActionTable>> = {
  ec2: EC2_ACTIONS,
  elasticloadbalancing: {},
  sts: {},
};
