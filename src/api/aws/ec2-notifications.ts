// EC2's connection notification actions (aws-ec2-api.md §2.2; Terraform's
// aws_vpc_endpoint_connection_notification): Create, Describe, Modify and Delete over the domain's
// notifications. The ConnectionNotificationArn must be a topic the operator declared (config
// `aws.sns_topics`); messages go to its webhook (src/notify/webhooks.ts, notification-message.ts).
import { DomainError } from '../../model/errors.js';
import { CONNECTION_EVENTS, type ConnectionEventName, type ConnectionNotification } from '../../model/notifications.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { applyFilters, eachItem, page, type FilterTable } from './aws-render.js';
import { clientTokenOf } from './client-token.js';
import { ownEndpoint } from './ec2-endpoints.js';
import { newAwsId } from './ids.js';
import { AWS_CONNECTION_EVENTS } from './notification-message.js';
import type { XmlFields } from './xml.js';

const EVENT_OF_AWS = new Map<string, ConnectionEventName>(CONNECTION_EVENTS.map((e) => [AWS_CONNECTION_EVENTS[e], e]));

function notificationXml(call: AwsCall, n: ConnectionNotification): XmlFields {
  return {
    connectionNotificationId: n.id,
    serviceId: n.service_id ?? undefined,
    vpcEndpointId: n.endpoint_id ?? undefined,
    connectionNotificationType: 'Topic',
    connectionNotificationArn: n.topic,
    connectionEvents: n.events.map((e) => AWS_CONNECTION_EVENTS[e]),
    connectionNotificationState: n.enabled ? 'Enabled' : 'Disabled',
    serviceRegion: call.region,
  };
}

/** `ConnectionEvents.N`: Accept, Connect, Delete, Reject */
function readEvents(call: AwsCall, required: boolean): ConnectionEventName[] | undefined {
  const given = call.params.stringList('ConnectionEvents');
  if (!given.length) {
    if (required) throw new AwsRequestError('MissingParameter', 'The request must contain the parameter ConnectionEvents');
    return undefined;
  }
  return given.map((g) => {
    const e = EVENT_OF_AWS.get(g);
    if (!e) throw new AwsRequestError('InvalidParameterValue', `Value (${g.slice(0, 100)}) for parameter ConnectionEvents is invalid. Expected one of: Accept, Connect, Delete, Reject`);
    return e;
  });
}

/** the domain's refusal of a topic, in AWS's words (InvalidParameterValue naming the ARN) */
async function withTopicError<T>(arn: string | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof DomainError && err.name === 'InvalidParameter' && arn !== undefined && err.message.includes('aws.sns_topics')) {
      throw new AwsRequestError('InvalidParameterValue', `Value (${arn.slice(0, 256)}) for parameter ConnectionNotificationArn is invalid: ${err.message}`);
    }
    throw err;
  }
}

function ownNotification(call: AwsCall, id: string): ConnectionNotification {
  const n = call.control.listNotifications(call.caller).find((x) => x.id === id);
  if (!n) throw new AwsRequestError('InvalidConnectionNotification', `The connection notification Id '${id.slice(0, 100)}' does not exist`);
  return n;
}

async function createNotification(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const serviceId = p.string('ServiceId');
  const endpointId = p.string('VpcEndpointId');
  if ((serviceId === undefined) === (endpointId === undefined)) {
    throw new AwsRequestError(serviceId === undefined ? 'MissingParameter' : 'InvalidParameterCombination', 'Specify either ServiceId or VpcEndpointId, not both');
  }
  const arn = p.requiredString('ConnectionNotificationArn');
  const events = readEvents(call, true)!;
  const token = clientTokenOf(p);
  if (serviceId !== undefined && !call.control.listServices(call.caller).some((s) => s.id === serviceId)) {
    throw new AwsRequestError('InvalidVpcEndpointServiceId.NotFound', `The VpcEndpointService Id '${serviceId.slice(0, 100)}' does not exist`);
  }
  if (endpointId !== undefined && ownEndpoint(call, endpointId).service_type !== 'interface') {
    throw new AwsRequestError('InvalidParameter', 'Connection notifications apply to interface endpoints only');
  }
  const n = await withTopicError(arn, () => call.control.createNotification(call.caller, {
    id: newAwsId('vpce-nfn'), ...(serviceId !== undefined ? { serviceId } : { endpointId }), topic: arn, events, ...(token ? { clientToken: token } : {}),
  }));
  return { connectionNotification: notificationXml(call, n), ...(token ? { clientToken: token.token } : {}) };
}

const NOTIFICATION_FILTERS: FilterTable<ConnectionNotification> = {
  'connection-notification-arn': (n) => n.topic,
  'connection-notification-id': (n) => n.id,
  'connection-notification-state': (n) => (n.enabled ? 'Enabled' : 'Disabled'),
  'connection-notification-type': () => 'Topic',
  'service-id': (n) => n.service_id,
  'vpc-endpoint-id': (n) => n.endpoint_id,
};

function describeNotifications(call: AwsCall): XmlFields {
  const id = call.params.string('ConnectionNotificationId');
  const chosen = id !== undefined ? [ownNotification(call, id)] : call.control.listNotifications(call.caller);
  const out = page(applyFilters(chosen, call.params.filters(), NOTIFICATION_FILTERS), (n) => n.id, call.params, { min: 1 });
  return { connectionNotificationSet: out.items.map((n) => notificationXml(call, n)), nextToken: out.nextToken };
}

async function modifyNotification(call: AwsCall): Promise<XmlFields> {
  const n = ownNotification(call, call.params.requiredString('ConnectionNotificationId'));
  const arn = call.params.string('ConnectionNotificationArn');
  const events = readEvents(call, false);
  await withTopicError(arn, () => call.control.modifyNotification(call.caller, n.id, { ...(arn !== undefined ? { topic: arn } : {}), ...(events ? { events } : {}) }));
  return { return: true };
}

function deleteNotifications(call: AwsCall): Promise<XmlFields> {
  const ids = call.params.stringList('ConnectionNotificationId');
  return eachItem(ids, 'ConnectionNotificationId.1', async (id) => {
    ownNotification(call, id);
    await call.control.deleteNotification(call.caller, id);
  }, (err) => (err instanceof AwsRequestError ? { code: err.code, message: err.message } : null));
}

export const EC2_NOTIFICATION_ACTIONS = {
  CreateVpcEndpointConnectionNotification: createNotification,
  DescribeVpcEndpointConnectionNotifications: describeNotifications,
  ModifyVpcEndpointConnectionNotification: modifyNotification,
  DeleteVpcEndpointConnectionNotifications: deleteNotifications,
} as const satisfies ActionTable;
