// The message a connection notification sends, as AWS's SNS delivers one to an HTTP(S)
// subscription: the envelope of the SNS Developer Guide's "HTTP/HTTPS notification JSON format"
// (Type, MessageId, TopicArn, Subject, Message, Timestamp, SignatureVersion, Signature,
// SigningCertURL, UnsubscribeURL; headers x-amz-sns-message-type, -message-id, -topic-arn; body
// sent as text/plain), whose `Message` is a JSON string with the event. The fields of that inner
// JSON follow EC2's ConnectionNotification and VpcEndpoint shapes (aws-ec2-api.md §2.2); AWS's
// PrivateLink guide shows no example of it in the references at hand, so its exact keys are
// unverified (README "Connection notifications"). vpcep-sim does not sign: Signature is empty.
import { randomUUID } from 'node:crypto';
import type { ConnectionEvent, ConnectionEventName, ConnectionNotification } from '../../model/notifications.js';
import { endpointState } from './aws-render.js';

/** the events in AWS's words */
export const AWS_CONNECTION_EVENTS: Readonly<Record<ConnectionEventName, string>> = {
  connect: 'Connect', accept: 'Accept', reject: 'Reject', delete: 'Delete',
};

export interface AwsNotificationContext {
  /** the AWS region names carry */
  readonly region: string;
  /** an account's 12-digit id */
  awsIdOf(account: string): string;
}

export function awsNotificationMessage(n: ConnectionNotification, e: ConnectionEvent, ctx: AwsNotificationContext): { body: string; contentType: string; headers: Record<string, string> } {
  const event = AWS_CONNECTION_EVENTS[e.event];
  const endpoint = e.endpoint;
  const message = {
    eventType: event,
    eventTime: e.at,
    connectionNotificationId: n.id,
    connectionNotificationArn: n.topic,
    serviceId: endpoint.service_id,
    serviceRegion: ctx.region,
    vpcEndpointId: endpoint.id,
    vpcEndpointOwner: ctx.awsIdOf(endpoint.owner),
    vpcEndpointState: e.event === 'delete' ? 'deleted' : endpointState(endpoint.status),
  };
  const id = randomUUID();
  const envelope = {
    Type: 'Notification',
    MessageId: id,
    TopicArn: n.topic,
    Subject: `VPC Endpoint ${endpoint.id} ${event}`,
    Message: JSON.stringify(message),
    Timestamp: e.at,
    SignatureVersion: '1',
    Signature: '',
    SigningCertURL: '',
    UnsubscribeURL: '',
  };
  return {
    body: JSON.stringify(envelope),
    contentType: 'text/plain; charset=UTF-8',
    headers: { 'x-amz-sns-message-type': 'Notification', 'x-amz-sns-message-id': id, 'x-amz-sns-topic-arn': n.topic },
  };
}
