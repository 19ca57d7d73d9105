// EC2's internet gateways (Terraform's aws_internet_gateway and a public route table's default
// route): CreateInternetGateway, Attach/DetachInternetGateway, DeleteInternetGateway and
// DescribeInternetGateways over the domain's stored gateways (src/control/internet-gateways.ts),
// ids `igw-` + 17 hex. An attached gateway's attachment shows `available`, as AWS shows it.
import type { InternetGateway } from '../../model/types.js';
import type { ActionTable, AwsCall } from './actions.js';
import { applyFilters, page, requireIds, tagSet, tagsOfSpecifications, type FilterTable } from './aws-render.js';
import { newAwsId } from './ids.js';
import type { XmlFields } from './xml.js';

function gatewayXml(call: AwsCall, g: InternetGateway): XmlFields {
  return {
    internetGatewayId: g.id,
    ownerId: call.accountId,
    attachmentSet: g.vpc_id === null ? [] : [{ vpcId: g.vpc_id, state: 'available' }],
    tagSet: tagSet(g.tags),
  };
}

async function createInternetGateway(call: AwsCall): Promise<XmlFields> {
  const g = await call.control.createInternetGateway(call.caller, { id: newAwsId('igw'), tags: tagsOfSpecifications(call.params, 'internet-gateway') });
  return { internetGateway: gatewayXml(call, g) };
}

async function attachInternetGateway(call: AwsCall): Promise<XmlFields> {
  await call.control.attachInternetGateway(call.caller, call.params.requiredString('InternetGatewayId'), call.params.requiredString('VpcId'));
  return { return: true };
}

async function detachInternetGateway(call: AwsCall): Promise<XmlFields> {
  await call.control.detachInternetGateway(call.caller, call.params.requiredString('InternetGatewayId'), call.params.requiredString('VpcId'));
  return { return: true };
}

async function deleteInternetGateway(call: AwsCall): Promise<XmlFields> {
  await call.control.deleteInternetGateway(call.caller, call.params.requiredString('InternetGatewayId'));
  return { return: true };
}

const FILTERS: FilterTable<InternetGateway> = {
  'internet-gateway-id': (g) => g.id,
  'attachment.vpc-id': (g) => g.vpc_id,
  'attachment.state': (g) => (g.vpc_id === null ? null : 'available'),
};

function describeInternetGateways(call: AwsCall): XmlFields {
  const all = call.control.internetGateways(call.caller);
  const ids = call.params.stringList('InternetGatewayId');
  if (ids.length) requireIds(ids, new Set(all.map((g) => g.id)), 'InvalidInternetGatewayID.NotFound', 'internetGateway ID');
  const chosen = ids.length ? all.filter((g) => ids.includes(g.id)) : all;
  const table: FilterTable<InternetGateway> = { ...FILTERS, 'owner-id': () => call.accountId };
  const out = page(applyFilters(chosen, call.params.filters(), table, (g) => g.tags), (g) => g.id, call.params);
  return { internetGatewaySet: out.items.map((g) => gatewayXml(call, g)), nextToken: out.nextToken };
}

export const EC2_INTERNET_GATEWAY_ACTIONS = {
  CreateInternetGateway: createInternetGateway,
  AttachInternetGateway: attachInternetGateway,
  DetachInternetGateway: detachInternetGateway,
  DeleteInternetGateway: deleteInternetGateway,
  DescribeInternetGateways: describeInternetGateways,
} as const satisfies ActionTable;
