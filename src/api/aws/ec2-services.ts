// The provider's EC2 actions on endpoint services backed by network load balancers
// (aws-ec2-api.md §2.2): CreateVpcEndpointServiceConfiguration, ModifyVpcEndpointServiceConfiguration
// and DeleteVpcEndpointServiceConfigurations. The service is the domain's EndpointService with
// `load_balancers` (src/control/services.ts); its id is `vpce-svc-` + 17 hex, its name
// `com.amazonaws.vpce.<region>.<id>`.
import { DomainError } from '../../model/errors.js';
import type { EndpointService } from '../../model/types.js';
import { clientTokenOf } from './client-token.js';
import { awsZone } from './ec2-base.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { awsServiceName, awsType, baseEndpointDnsName, serviceState, tagSet, tagsOfSpecifications } from './aws-render.js';
import { loadBalancerArnOf, loadBalancerOfArn } from './elbv2.js';
import { endpointServiceName, newAwsId } from './ids.js';
import type { XmlFields } from './xml.js';


/** an EC2 `serviceConfiguration`: CreateVpcEndpointServiceConfiguration's answer and an item of DescribeVpcEndpointServiceConfigurations */
export function serviceConfigurationXml(call: AwsCall, s: EndpointService): XmlFields {
  return {
    serviceType: [{ serviceType: awsType(s.service_type) }],
    serviceId: s.id,
    serviceName: awsServiceName(s, call.region, call.control.region),
    serviceState: serviceState(s.status),
    availabilityZoneSet: call.control.serviceZones(s.id).map((z) => awsZone(call, z).name),
    acceptanceRequired: s.approval_enabled,
    managesVpcEndpoints: false,
    networkLoadBalancerArnSet: loadBalancerArns(call, s),
    gatewayLoadBalancerArnSet: [],
    supportedIpAddressTypeSet: ['ipv4'],
    baseEndpointDnsNameSet: [baseEndpointDnsName(s, call.region, call.control.region)],
    ...(s.private_dns ? {
      privateDnsName: s.private_dns.name,
      privateDnsNameConfiguration: { state: s.private_dns.state, type: 'TXT', value: s.private_dns.txt_value, name: s.private_dns.txt_name },
    } : {}),
    payerResponsibility: 'ServiceOwner',
    tagSet: tagSet(s.tags),
    // the one region simulated, which every service has (SupportedRegion.N takes it alone):
    // Terraform's aws_vpc_endpoint_service reads supported_regions from the Available ones here
    supportedRegionSet: [{ region: call.region, serviceState: 'Available' }],
    remoteAccessEnabled: false,
  };
}

/** the ARNs of a service's network load balancers (the caller's: the service's owner) */
export function loadBalancerArns(call: AwsCall, s: EndpointService): string[] {
  if (!s.load_balancers?.length) return [];
  return call.control.listLoadBalancers(call.caller).filter((lb) => s.load_balancers!.includes(lb.id)).map((lb) => loadBalancerArnOf(call, lb));
}

/** EC2 words an ARN that names no load balancer of the caller as an invalid parameter value */
function loadBalancerIds(call: AwsCall, param: string): string[] {
  return call.params.stringList(param).map((arn) => {
    try {
      return loadBalancerOfArn(call, arn, param).id;
    } catch (err) {
      if (err instanceof AwsRequestError) throw new AwsRequestError('InvalidParameterValue', `${param}: ${err.message}`);
      throw err;
    }
  });
}

/**
 * SupportedIpAddressType and SupportedRegion: what vpcep-sim simulates is IPv4 in one region, so
 * ipv4 and the region itself are taken (as AWS has them without asking), anything else refused
 * rather than answered and dropped; neither is removed
 */
function ipv4InOneRegion(call: AwsCall, prefixes: readonly string[]): void {
  const p = call.params;
  for (const prefix of prefixes) {
    for (const type of p.stringList(`${prefix}SupportedIpAddressType`)) {
      if (type !== 'ipv4' || prefix === 'Remove') {
        throw new AwsRequestError('InvalidParameterValue', `${prefix}SupportedIpAddressType ${type.slice(0, 64)}: vpcep-sim services are IPv4 only (ipv4, which a service keeps)`);
      }
    }
    for (const region of p.stringList(`${prefix}SupportedRegion`)) {
      if (region !== call.region || prefix === 'Remove') {
        throw new AwsRequestError('InvalidParameterValue', `${prefix}SupportedRegion ${region.slice(0, 64)}: vpcep-sim simulates one region (${call.region}), which a service keeps; cross-region access is not simulated`);
      }
    }
  }
}

async function createConfiguration(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const token = clientTokenOf(p);
  ipv4InOneRegion(call, ['']);
  if (p.stringList('GatewayLoadBalancerArn').length) {
    throw new AwsRequestError('InvalidParameter', 'gateway load balancers (GENEVE) are not simulated: give NetworkLoadBalancerArn.N');
  }
  const arns = p.stringList('NetworkLoadBalancerArn');
  if (arns.length === 0) throw new AwsRequestError('InvalidParameter', 'exactly one of NetworkLoadBalancerArn or GatewayLoadBalancerArn is required');
  const tags = tagsOfSpecifications(p, 'vpc-endpoint-service');
  const id = newAwsId('vpce-svc');
  const s = await call.control.createService(call.caller, {
    vpcId: '', portId: '', serverType: 'LB', loadBalancers: loadBalancerIds(call, 'NetworkLoadBalancerArn'),
    id, fullName: endpointServiceName(call.region, id),
    // AWS's default: acceptance required
    approvalRequired: p.bool('AcceptanceRequired') ?? true,
    ports: [], tags,
    ...(p.string('PrivateDnsName') !== undefined ? { privateDnsName: p.string('PrivateDnsName') } : {}),
    ...(token ? { clientToken: token } : {}),
  });
  return { serviceConfiguration: serviceConfigurationXml(call, s), clientToken: token?.token };
}

async function modifyConfiguration(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  for (const param of ['AddGatewayLoadBalancerArn', 'RemoveGatewayLoadBalancerArn']) {
    if (p.stringList(param).length) throw new AwsRequestError('InvalidParameter', `${param}: gateway load balancers are not simulated`);
  }
  const name = p.string('PrivateDnsName');
  const remove = p.bool('RemovePrivateDnsName') ?? false;
  if (name !== undefined && remove) throw new AwsRequestError('InvalidParameterCombination', 'PrivateDnsName and RemovePrivateDnsName cannot be given together');
  ipv4InOneRegion(call, ['Add', 'Remove']);
  const id = p.requiredString('ServiceId');
  await call.control.modifyService(call.caller, id, {
    ...(name !== undefined ? { privateDnsName: name } : remove ? { privateDnsName: null } : {}),
    approvalRequired: p.bool('AcceptanceRequired'),
    addLoadBalancers: loadBalancerIds(call, 'AddNetworkLoadBalancerArn'),
    removeLoadBalancers: loadBalancerIds(call, 'RemoveNetworkLoadBalancerArn'),
  });
  return { return: true };
}

/** each service on its own: one that cannot go is an `unsuccessful` item, the others go */
async function deleteConfigurations(call: AwsCall): Promise<XmlFields> {
  const ids = call.params.stringList('ServiceId');
  if (ids.length === 0) throw new AwsRequestError('MissingParameter', 'The request must contain the parameter ServiceId');
  const unsuccessful: XmlFields[] = [];
  for (const id of ids) {
    try {
      // aws-ec2-api.md 2.2: endpoints available or awaiting acceptance keep the service
      await call.control.deleteService(call.caller, id, { pendingBlocks: true });
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      unsuccessful.push({ error: { code: deleteItemCode(err), message: err.message }, resourceId: id });
    }
  }
  return { unsuccessful };
}

/** the item codes of DeleteVpcEndpointServiceConfigurations (§1.6): Terraform tolerates InvalidVpcEndpointService.NotFound */
function deleteItemCode(err: DomainError): string {
  switch (err.name) {
    case 'ServiceNotFound':
    case 'OperatorOwned': return 'InvalidVpcEndpointService.NotFound';
    case 'ServiceInUse': return 'ExistingVpcEndpointConnections';
    case 'BeingDeleted': return 'IncorrectState';
    default: return 'InvalidParameter';
  }
}

/** looks the service's TXT record up in vpcep-sim's public zone now: verified, else failed (DescribeVpcEndpointServiceConfigurations shows which) */
async function startPrivateDnsVerification(call: AwsCall): Promise<XmlFields> {
  await call.control.startPrivateDnsVerification(call.caller, call.params.requiredString('ServiceId'));
  return { return: true };
}

export const EC2_SERVICE_ACTIONS: ActionTable = {
  StartVpcEndpointServicePrivateDnsVerification: startPrivateDnsVerification,
  CreateVpcEndpointServiceConfiguration: createConfiguration,
  ModifyVpcEndpointServiceConfiguration: modifyConfiguration,
  DeleteVpcEndpointServiceConfigurations: deleteConfigurations,
};
