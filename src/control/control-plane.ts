// The control plane: applies neutral commands (src/model/commands.ts) to the model, persists them,
// and tells the data plane. ControlPlane is its one door for the dialects and the daemon: reads
// and tags are answered here, as whole unpaged lists of what the caller may see (each dialect
// filters, sorts and pages in its own terms); the commands are carried out by services.ts,
// endpoints.ts and gateway-endpoints.ts, the data-plane transitions by transitions.ts, all over
// one ControlState (state.ts). Refusals are DomainErrors by name; no dialect's code is known here.
import { bandwidthOf } from '../model/bandwidth.js';
import { DEFAULTS } from '../model/defaults.js';
import type {
  ChangeEndpointSubnetsCommand, ConnectionAction, ConnectionBandwidth, CreateEndpointCommand, CreateListenerCommand, CreateLoadBalancerCommand, CreateNetworkAclCommand, CreateNotificationCommand, CreateRouteTableCommand,
  CreateSecurityGroupCommand, CreateServiceCommand, CreateSubnetCommand, CreateTargetGroupCommand, CreateVpcCommand, DeleteServiceCommand, ElbResourceRef, PermissionEntry,
  MigrateBackendCommand, ModifyListenerCommand, ModifyNotificationCommand, ModifyServiceCommand, RouteTableAssociation, SecurityGroupRuleChange, SecurityGroupRuleInput, SetChange, TagInput, TargetInput, TraceQuery, UpdateEndpointCommand, VpcAttributesInput,
} from '../model/commands.js';
import type { HealthCheck, Listener, LoadBalancer, TargetGroup } from '../model/load-balancers.js';
import { DomainError } from '../model/errors.js';
import type { PolicyOptions } from '../model/policy.js';
import * as aws from '../model/aws-identity.js';
import type { ConnectionEvent, ConnectionNotification } from '../model/notifications.js';
import type { PathTrace } from '../model/path-trace.js';
import { indexRouting, type RoutingIndex } from '../model/routing.js';
import { applyTags, mayConnect } from '../model/rules.js';
import type { Backend } from '../model/events.js';
import type { PublicRecord } from '../model/dns-names.js';
import type { Store } from '../store/store.js';
import type { Account, ClientToken, Endpoint, EndpointService, InternetGateway, Permission, Route, RouteTable, SecurityGroup, SecurityGroupRule, Subnet, Tag, Vpc } from '../model/types.js';
import * as endpoints from './endpoints.js';
import { withdrawVerdict } from './fault-verdicts.js';
import { Faults } from './faults.js';
import { probeView, TargetHealthPublisher } from './fleet-health.js';
import * as provisioning from './provisioning-faults.js';
import * as gateway from './gateway-endpoints.js';
import * as notifications from './notifications.js';
import * as elb from './load-balancers.js';
import { follow, react, type Follower } from './follow.js';
import { fleetStatus, type FleetStatus } from './nodes.js';
import { placementLoop, type PlacementLoop } from './placement.js';
import * as internetGateways from './internet-gateways.js';
import * as networkAcls from './network-acls.js';
import * as network from './network.js';
import * as tracer from './path-tracer.js';
import { gatewayDetached, type RouteChange, type RouteTableView } from './route-tables.js';
import * as privateDns from './private-dns.js';
import * as services from './services.js';
import * as health from './target-health.js';
import type { TargetHealthRow } from './target-health.js';
import { ControlState, now, type ControlOptions, type TagPlan } from './state.js';
import * as transitions from './transitions.js';
import * as zones from './zones.js';

export type { ControlLogger, ControlOptions } from './state.js';

/** what carries tags through an API */
export type TaggedKind = 'endpoint_service' | 'endpoint' | 'internet_gateway' | 'network_acl' | network.NetworkTagKind;

export class ControlPlane {
  readonly region: string;
  private readonly st: ControlState;
  private readonly aws: aws.AwsIdentities;
  private readonly publicZone: privateDns.PublicZone;
  /** toxics and proxies taken down (README "Fault injection") */
  readonly faults: Faults;
  private readonly healthPublisher: TargetHealthPublisher;

  constructor(o: ControlOptions) {
    this.st = new ControlState(o);
    this.publicZone = new privateDns.PublicZone(o.publicRecords ?? [], this.st);
    this.faults = new Faults(this.st);
    this.region = this.st.region;
    this.aws = aws.awsIdentities(o.inventory.accounts);
    this.healthPublisher = new TargetHealthPublisher(this.st);
  }

  // ---- AWS identities (src/model/aws-identity.ts) ---------------------------------------------

  /** a configured key: its account and secret (verify); no key configured anywhere: the default account, secret null (lenient); else null (AuthFailure) */
  accountByAccessKey(accessKeyId: string): aws.AwsCaller | null {
    return aws.awsAccountFor(this.aws, accessKeyId);
  }

  /** how AWS requests are authenticated: verify, lenient or closed (src/model/aws-identity.ts) */
  get awsMode(): aws.AwsIdentities['mode'] {
    return this.aws.mode;
  }

  accountByAwsId(awsAccountId: string): Account | undefined {
    return aws.accountByAwsId(this.aws, awsAccountId);
  }

  awsIdOf(accountName: string): string {
    return this.st.accountsByName.get(accountName)?.aws_account_id ?? '';
  }

  /** `arn:aws:iam::<id>:root` (a user or role: its whole account) or `*` -> the whitelist entry; null: no such account here */
  permissionOfAwsPrincipal(principal: string): string | null {
    return aws.permissionOfPrincipal(this.aws, principal);
  }

  /** a dialect's policy rules, with the accounts' AWS ids: a policy naming an account by its AWS id matches its connections */
  policyOptions(options: PolicyOptions): PolicyOptions {
    return { ...options, domainOfAwsAccount: (id) => aws.accountByAwsId(this.aws, id)?.domain_id };
  }

  /** a whitelist entry -> `arn:aws:iam::<id>:root` or `*`; null: it names no account here */
  awsPrincipalOfPermission(permission: string): string | null {
    return aws.principalOfPermission(this.aws, permission);
  }

  /** a whitelist entry as AWS's allowed principals list it: `*`, an account's root ARN, else the entry as it is */
  awsAllowedPrincipalOf(permission: string): string {
    return aws.allowedPrincipalOf(this.aws, permission);
  }

  /** a principal to remove from a whitelist (AWS's, or an entry listed as it is) -> the entry; null: neither */
  permissionToRemove(principal: string): string | null {
    return aws.permissionToRemove(this.aws, principal);
  }

  // ---- lookups -------------------------------------------------------------------------------

  /** an empty token is never a credential */
  accountByToken(token: string): Account | undefined {
    return token ? this.st.accountsByToken.get(token) : undefined;
  }

  accountByName(name: string): Account | undefined {
    return this.st.accountsByName.get(name);
  }

  allServices(): IterableIterator<EndpointService> {
    return this.st.services.values();
  }

  get endpointCount(): number {
    return this.st.endpoints.size;
  }

  allEndpoints(): IterableIterator<Endpoint> {
    return this.st.endpoints.values();
  }

  /** the zones of an interface endpoint's ENIs, one per zone; none for a gateway endpoint */
  endpointZones(e: Endpoint): string[] {
    return e.service_type === 'interface' ? e.enis.map((n) => n.zone) : [];
  }

  /** whether a zone is taken down on demand now */
  zoneDown(zone: string): boolean {
    return this.st.zonesDown.has(zone);
  }

  /** counts the changes made visible (each commit, a public record's too): readers that cache views of the state compare it */
  get revision(): number {
    return this.st.revision;
  }

  /** the backends each terminal port of an endpoint's service relays to, as the data plane gets them */
  endpointBackends(e: Endpoint): readonly Backend[] {
    const s = this.st.services.get(e.service_id);
    return s ? transitions.backendsOf(this.st, s) : [];
  }

  /** the zone of the subnet holding a client's host address (127.k.c.d), or null */
  zoneOfHost(host: string): string | null {
    return zones.zoneOfHost(this.st, host);
  }

  // ---- private DNS names and the public zone (src/control/private-dns.ts) -----------------------

  /** every record of the public zone, with who published it (null: the config) */
  publicRecords(): readonly privateDns.OwnedRecord[] {
    return this.publicZone.all();
  }

  /** publishes a record in the public zone (any account: the zone is the internet's); services waiting for it are verified */
  async publishRecord(caller: Account, r: PublicRecord): Promise<privateDns.OwnedRecord> {
    const added = await this.publicZone.add(caller, r);
    await privateDns.verifyWaiting(this.st, this.publicZone);
    return added;
  }

  /** removes the caller's records of a name (and value); how many went */
  unpublishRecord(caller: Account, name: string, value?: string): Promise<number> {
    return this.publicZone.remove(caller.name, name, value);
  }

  /** StartVpcEndpointServicePrivateDnsVerification: the TXT record looked up now, verified or failed */
  startPrivateDnsVerification(caller: Account, id: string): Promise<EndpointService> {
    return privateDns.startVerification(this.st, this.publicZone, caller, id);
  }

  /** a service the caller owns; OperatorOwned for an operator-run one, else ServiceNotFound (another account's service does not exist for it) */
  ownService(caller: Account, id: string): EndpointService {
    return this.st.ownService(caller, id);
  }

  ownEndpoint(caller: Account, id: string): Endpoint {
    return this.st.ownEndpoint(caller, id);
  }

  /** the caller's own services */
  listServices(caller: Account): EndpointService[] {
    return [...this.st.services.values()].filter((s) => s.owner === caller.name);
  }

  /** the caller's own endpoints */
  listEndpoints(caller: Account): Endpoint[] {
    return [...this.st.endpoints.idsOf(caller.name)].map((id) => this.st.endpoints.get(id)!);
  }

  /** the endpoints connected to a provider's own service */
  listConnections(caller: Account, serviceId: string): Endpoint[] {
    const s = this.st.ownService(caller, serviceId);
    return [...this.st.endpoints.idsOfService(s.id)].map((id) => this.st.endpoints.get(id)!);
  }

  publicServices(): EndpointService[] {
    return [...this.st.services.values()].filter((s) => s.public);
  }

  /** a service summary for a consumer: only services it may connect to are visible */
  describeService(caller: Account, by: { id?: string; name?: string }): EndpointService {
    const s = [...this.st.services.values()].find((x) => (by.id !== undefined ? x.id === by.id : x.service_name === by.name));
    if (!s || !mayConnect(s, caller)) {
      throw new DomainError('ServiceNotFound', `endpoint service ${by.id ?? by.name} does not exist`);
    }
    return s;
  }

  connectionCount(serviceId: string): number {
    return this.st.connectionCount(serviceId);
  }

  usage(caller: Account): { endpoint_service: number; endpoint: number } {
    return this.st.usage(caller);
  }

  domainOf(accountName: string): string {
    return this.st.accountsByName.get(accountName)?.domain_id ?? '';
  }

  projectOf(accountName: string): string {
    return this.st.accountsByName.get(accountName)?.project_id ?? '';
  }

  async permissions(caller: Account, id: string): Promise<readonly Permission[]> {
    return this.st.ownService(caller, id).permissions;
  }

  // ---- endpoint services (services.ts) -------------------------------------------------------

  createService(caller: Account, cmd: CreateServiceCommand): Promise<EndpointService> {
    return services.createService(this.st, caller, cmd);
  }

  modifyService(caller: Account, id: string, cmd: ModifyServiceCommand): Promise<EndpointService> {
    return services.modifyService(this.st, caller, id, cmd);
  }

  migrateBackend(caller: Account, id: string, cmd: MigrateBackendCommand): Promise<EndpointService> {
    return services.migrateBackend(this.st, caller, id, cmd);
  }

  deleteService(caller: Account, id: string, cmd: DeleteServiceCommand = {}): Promise<void> {
    return services.deleteService(this.st, caller, id, cmd);
  }

  changePermissions(caller: Account, id: string, action: 'add' | 'remove', entries: readonly PermissionEntry[]): Promise<string[]> {
    return services.changePermissions(this.st, caller, id, action, entries);
  }

  connectionAction(caller: Account, serviceId: string, action: ConnectionAction, endpointId: string): Promise<Endpoint> {
    return services.connectionAction(this.st, caller, serviceId, action, endpointId);
  }

  /** the provider sets the bandwidth of its service's endpoint connections (Mbit/s; null: the service's default), live */
  setConnectionBandwidth(caller: Account, serviceId: string, entries: readonly ConnectionBandwidth[]): Promise<Endpoint[]> {
    return services.setConnectionBandwidth(this.st, caller, serviceId, entries);
  }

  /** the bandwidth an endpoint's connections get (Mbit/s): its own, else its service's default; null: none */
  bandwidthOf(e: Endpoint): number | null {
    return bandwidthOf(e, this.st.services.get(e.service_id));
  }

  // ---- provisioning faults (src/control/provisioning-faults.ts) -------------------------------------------

  /** the activation delay (region-wide, like the zones) and the caller's services whose next activation fails */
  provisioningFaults(caller: Account): { provisioning_delay_ms: number; fail_next_activation: string[] } {
    return provisioning.faultsView(this.st, caller);
  }

  /** ms each endpoint activation waits from now on (0: none), on every node of a fleet */
  setProvisioningDelay(ms: number): Promise<void> {
    return provisioning.setProvisioningDelay(this.st, ms);
  }

  failEndpointActivation(caller: Account, id: string, message?: string): Promise<Endpoint> {
    return provisioning.failEndpointActivation(this.st, caller, id, message);
  }

  failNextActivation(caller: Account, serviceId: string, message?: string): Promise<void> {
    return provisioning.failNextActivation(this.st, caller, serviceId, message);
  }

  /** provisioning faults injected since start (metrics) */
  get faultsInjected(): { readonly delay: number; readonly failure: number } {
    return this.st.faults.injected;
  }

  /** the caller's own VPCs, as a cloud shows them: nothing of other tenants */
  vpcs(caller: Account): Vpc[] {
    return [...this.st.vpcs.values()].filter((v) => v.account === caller.name);
  }

  /** a service by id, whoever owns it (what an endpoint of it shows: its custom domain name) */
  serviceById(id: string): EndpointService | undefined {
    return this.st.services.get(id);
  }

  /** an endpoint by id, whoever owns it (a dialect checks the owner) */
  endpointById(id: string): Endpoint | undefined {
    return this.st.endpoints.get(id);
  }

  /** the terminal ports an endpoint of this service listens on (a gateway service's: on its prefix list's addresses) */
  servicePorts(serviceId: string): number[] {
    const s = this.st.services.get(serviceId);
    return s ? s.ports.map((p) => p.client_port) : [];
  }

  // ---- route tables, gateway endpoints and the path tracer (gateway-endpoints.ts) -------------

  routeTables(caller: Account): RouteTableView[] {
    return gateway.routeTables(this.st, caller);
  }

  routeTable(caller: Account, id: string): RouteTableView {
    return gateway.routeTable(this.st, caller, id);
  }

  updateRouteTable(caller: Account, id: string, change: RouteChange): Promise<RouteTableView> {
    return gateway.updateRouteTable(this.st, caller, id, change);
  }

  /** the routing view indexed (the data plane gets the plain view: ChangeEvent 'routing') */
  routing(): RoutingIndex {
    return indexRouting(this.st.routing());
  }

  /** the path tracer: the same decision the data plane makes for a connection */
  trace(caller: Account, q: TraceQuery): PathTrace {
    return tracer.trace(this.st, caller, q);
  }

  setEndpointRouteTables(caller: Account, id: string, tables: readonly string[] | SetChange): Promise<Endpoint> {
    return gateway.setEndpointRouteTables(this.st, caller, id, tables);
  }

  /** `policy`: the statements, or null for none (everyone); `options`: the dialect's policy rules (is a Principal required) */
  setEndpointPolicy(caller: Account, id: string, policy: unknown, options: PolicyOptions, document?: string): Promise<Endpoint> {
    return gateway.setEndpointPolicy(this.st, caller, id, policy, this.policyOptions(options), document);
  }

  // ---- the network inventory made through an API (network.ts) --------------------------------

  createVpc(caller: Account, cmd: CreateVpcCommand): Promise<Vpc> {
    return network.createVpc(this.st, caller, cmd);
  }

  deleteVpc(caller: Account, id: string): Promise<void> {
    return network.deleteVpc(this.st, caller, id);
  }

  modifyVpcAttributes(caller: Account, id: string, attributes: VpcAttributesInput): Promise<Vpc> {
    return network.modifyVpcAttributes(this.st, caller, id, attributes);
  }

  createSubnet(caller: Account, cmd: CreateSubnetCommand): Promise<Subnet> {
    return network.createSubnet(this.st, caller, cmd);
  }

  modifySubnetAttributes(caller: Account, id: string, attributes: { mapPublicIpOnLaunch?: boolean }): Promise<Subnet> {
    return network.modifySubnetAttributes(this.st, caller, id, attributes);
  }

  deleteSubnet(caller: Account, id: string): Promise<void> {
    return network.deleteSubnet(this.st, caller, id);
  }

  createRouteTable(caller: Account, cmd: CreateRouteTableCommand): Promise<RouteTable> {
    return network.createRouteTable(this.st, caller, cmd);
  }

  deleteRouteTable(caller: Account, id: string): Promise<void> {
    return network.deleteRouteTable(this.st, caller, id);
  }

  /** the VPC's main table replaced by another of its tables */
  replaceMainRouteTable(caller: Account, tableId: string, vpcId: string): Promise<void> {
    return network.replaceMainRouteTable(this.st, caller, tableId, vpcId);
  }

  /** tableId null: the subnet goes back to its VPC's main table */
  /** FROM: the association the caller read (none, or one of a table by its id), checked when the change is made */
  associateRouteTable(caller: Account, subnetId: string, tableId: string | null, from: RouteTableAssociation): Promise<void> {
    return network.associateRouteTable(this.st, caller, subnetId, tableId, from);
  }

  /** the caller's security groups: those made through the API and each API VPC's default one */
  securityGroups(caller: Account): SecurityGroup[] {
    return network.securityGroups(this.st, caller);
  }

  createSecurityGroup(caller: Account, cmd: CreateSecurityGroupCommand): Promise<SecurityGroup> {
    return network.createSecurityGroup(this.st, caller, cmd);
  }

  deleteSecurityGroup(caller: Account, id: string): Promise<void> {
    return network.deleteSecurityGroup(this.st, caller, id);
  }

  changeSecurityGroupRules(
    caller: Account, id: string, direction: 'ingress' | 'egress', action: 'authorize' | 'revoke', rules: readonly SecurityGroupRuleInput[],
  ): Promise<{ group: SecurityGroup; changed: SecurityGroupRule[] }> {
    return network.changeRules(this.st, caller, id, direction, action, rules);
  }

  /** a default group's rule "all traffic from its members" revoked or authorized again */
  changeSecurityGroupMembersRule(caller: Account, id: string, action: 'authorize' | 'revoke'): Promise<SecurityGroup> {
    return network.changeMembersRule(this.st, caller, id, action);
  }

  /** rules of a group changed in place, keeping their ids (ModifySecurityGroupRules, UpdateSecurityGroupRuleDescriptions*) */
  replaceSecurityGroupRules(caller: Account, id: string, changes: readonly SecurityGroupRuleChange[]): Promise<SecurityGroup> {
    return network.replaceRules(this.st, caller, id, changes);
  }

  // ---- internet gateways (internet-gateways.ts) -----------------------------------------------

  internetGateways(caller: Account): InternetGateway[] {
    return internetGateways.internetGateways(this.st, caller);
  }

  /** whether a route of the VPC leads to an internet gateway no longer attached to it (AWS shows it blackhole) */
  gatewayDetached(vpcId: string, r: Route): boolean {
    return gatewayDetached(this.st.vpcs.get(vpcId), r, this.st.internetGateways);
  }

  createInternetGateway(caller: Account, cmd: { id: string; tags?: readonly TagInput[] }): Promise<InternetGateway> {
    return internetGateways.createInternetGateway(this.st, caller, cmd);
  }

  attachInternetGateway(caller: Account, id: string, vpcId: string): Promise<InternetGateway> {
    return internetGateways.attachInternetGateway(this.st, caller, id, vpcId);
  }

  detachInternetGateway(caller: Account, id: string, vpcId: string): Promise<InternetGateway> {
    return internetGateways.detachInternetGateway(this.st, caller, id, vpcId);
  }

  deleteInternetGateway(caller: Account, id: string): Promise<void> {
    return internetGateways.deleteInternetGateway(this.st, caller, id);
  }

  // ---- network ACLs (network-acls.ts) ---------------------------------------------------------

  /** the caller's ACLs with their subnets: each VPC's default one and those made with CreateNetworkAcl */
  networkAcls(caller: Account): networkAcls.NetworkAclView[] {
    return networkAcls.networkAcls(this.st, caller);
  }

  createNetworkAcl(caller: Account, cmd: CreateNetworkAclCommand): Promise<networkAcls.NetworkAclView> {
    return networkAcls.createNetworkAcl(this.st, caller, cmd);
  }

  deleteNetworkAcl(caller: Account, id: string): Promise<void> {
    return networkAcls.deleteNetworkAcl(this.st, caller, id);
  }

  changeNetworkAclEntry(caller: Account, id: string, change: networkAcls.NetworkAclEntryChange): Promise<networkAcls.NetworkAclView> {
    return networkAcls.changeNetworkAclEntry(this.st, caller, id, change);
  }

  /** FROM: the ACL the caller read the subnet's association of, and that association's id, checked when the change is made */
  associateNetworkAcl(caller: Account, subnetId: string, id: string, from: { readonly acl: string; readonly id: string }): Promise<void> {
    return networkAcls.associateNetworkAcl(this.st, caller, subnetId, id, from);
  }

  // ---- endpoints (endpoints.ts) --------------------------------------------------------------

  /** the endpoint the caller made with this client token before, or none; IdempotencyMismatch with other parameters */
  endpointOfClientToken(caller: Account, token: ClientToken): Promise<Endpoint | undefined> {
    return endpoints.endpointOfToken(this.st, caller, token);
  }

  /** `policy`: the dialect's policy rules (is a Principal required) */
  createEndpoint(caller: Account, cmd: CreateEndpointCommand, policy: PolicyOptions): Promise<Endpoint> {
    return endpoints.createEndpoint(this.st, caller, cmd, this.policyOptions(policy));
  }

  updateEndpoint(caller: Account, id: string, cmd: UpdateEndpointCommand): Promise<Endpoint> {
    return endpoints.updateEndpoint(this.st, caller, id, cmd);
  }

  deleteEndpoint(caller: Account, id: string): Promise<void> {
    return endpoints.deleteEndpoint(this.st, caller, id);
  }

  /** adds ENIs (zones) to an interface endpoint and removes others, live (endpoints.ts) */
  changeEndpointSubnets(caller: Account, id: string, cmd: ChangeEndpointSubnetsCommand): Promise<Endpoint> {
    return endpoints.changeEndpointSubnets(this.st, caller, id, cmd);
  }

  // ---- zones (zones.ts) ----------------------------------------------------------------------

  /** the region's zones, in the config's order */
  zones(): readonly string[] {
    return this.st.zones;
  }

  /** each zone and whether it is up (a zone taken down on demand is not) */
  zoneStates(): Array<{ zone: string; up: boolean }> {
    return zones.zoneStates(this.st);
  }

  /** the zones a service's backends are in: an endpoint of it may only use these */
  serviceZones(serviceId: string): string[] {
    const s = this.st.services.get(serviceId);
    if (!s) return [];
    const inService = zones.serviceZones(this.st, s);
    return this.st.zones.filter((z) => inService.has(z));
  }

  /** takes a zone down (a simulated outage) or brings it back up; the zones' states once the data plane has acted */
  setZoneDown(zone: string, down: boolean): Promise<Array<{ zone: string; up: boolean }>> {
    return zones.setZoneDown(this.st, zone, down);
  }

  // ---- tags of either kind -------------------------------------------------------------------

  /** one tag change on one resource (Huawei's tags/action) */
  tag(caller: Account, kind: TaggedKind, id: string, action: 'create' | 'delete', tags: readonly TagInput[]): Promise<void> {
    return this.tagAll(caller, [{ kind, id }], action, tags);
  }

  /**
   * One tag change on several resources (EC2's CreateTags and DeleteTags), all or nothing: every
   * one is checked (owner, a config VPC's, the tag limit) before any changes, in one serial section
   */
  async tagAll(caller: Account, targets: ReadonlyArray<{ kind: TaggedKind; id: string }>, action: 'create' | 'delete', tags: readonly TagInput[]): Promise<void> {
    await this.st.serial(async () => {
      for (const t of targets) this.planTags(caller, t.kind, t.id, action, tags);
      // planned again one at a time: two subnets of one VPC change the same VPC document
      for (const t of targets) {
        const p = this.planTags(caller, t.kind, t.id, action, tags);
        await this.st.commit(p.changes, p.apply);
      }
    });
  }

  private planTags(caller: Account, kind: TaggedKind, id: string, action: 'create' | 'delete', tags: readonly TagInput[]): TagPlan {
    const st = this.st;
    if (kind === 'internet_gateway') return internetGateways.planInternetGatewayTags(st, caller, id, action, tags);
    if (kind === 'network_acl') return networkAcls.planNetworkAclTags(st, caller, id, action, tags);
    if (kind !== 'endpoint_service' && kind !== 'endpoint') return network.planNetworkTags(st, caller, kind, id, action, tags);
    if (kind === 'endpoint_service') {
      const s = st.ownService(caller, id);
      const next = { ...s, tags: applyTags(s.tags, action, tags, DEFAULTS.limits.tagsPerResource), updated_at: now() };
      return { changes: [{ kind: 'service', id, value: next }], apply: () => st.services.set(id, next) };
    }
    const e = st.ownEndpoint(caller, id);
    const next = { ...e, tags: applyTags(e.tags, action, tags, DEFAULTS.limits.tagsPerResource), updated_at: now() };
    return { changes: [{ kind: 'endpoint', id, value: next }], apply: () => st.endpoints.set(id, next) };
  }

  tagsOf(caller: Account, kind: 'endpoint_service' | 'endpoint'): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const items: Iterable<{ owner: string; tags: readonly Tag[] }> = kind === 'endpoint_service' ? this.st.services.values() : this.st.endpoints.values();
    for (const r of items) {
      if (r.owner !== caller.name) continue;
      for (const t of r.tags) {
        if (!out.has(t.key)) out.set(t.key, new Set());
        out.get(t.key)!.add(t.value);
      }
    }
    return out;
  }

  // ---- connection notifications (notifications.ts) -------------------------------------------

  listNotifications(caller: Account): ConnectionNotification[] {
    return notifications.listNotifications(this.st, caller);
  }

  /** every account's enabled notifications: what a deliverer matches events against */
  allNotifications(): IterableIterator<ConnectionNotification> {
    return this.st.notifications.values();
  }

  /** whether a notification's topic lets its owner's account publish now (the config's aws.sns_topics[].accounts) */
  notificationMayPublish(n: ConnectionNotification): boolean {
    return notifications.mayPublish(this.st, n);
  }

  createNotification(caller: Account, cmd: CreateNotificationCommand): Promise<ConnectionNotification> {
    return notifications.createNotification(this.st, caller, cmd);
  }

  modifyNotification(caller: Account, id: string, cmd: ModifyNotificationCommand): Promise<ConnectionNotification> {
    return notifications.modifyNotification(this.st, caller, id, cmd);
  }

  deleteNotification(caller: Account, id: string): Promise<void> {
    return notifications.deleteNotification(this.st, caller, id);
  }

  /** tells `listener` each connection event once its change is stored (synchronously: it must not block) */
  onConnectionEvent(listener: (e: ConnectionEvent) => void): void {
    this.st.connectionListeners.push(listener);
  }

  // ---- network load balancers (load-balancers.ts) ---------------------------------------------

  /** the caller's own load balancers */
  listLoadBalancers(caller: Account): LoadBalancer[] {
    return [...this.st.loadBalancers.values()].filter((x) => x.owner === caller.name);
  }

  /** the caller's own target groups */
  listTargetGroups(caller: Account): TargetGroup[] {
    return [...this.st.targetGroups.values()].filter((x) => x.owner === caller.name);
  }

  loadBalancer(caller: Account, id: string): LoadBalancer {
    return elb.ownLoadBalancer(this.st, caller, id);
  }

  targetGroup(caller: Account, id: string): TargetGroup {
    return elb.ownTargetGroup(this.st, caller, id);
  }

  listener(caller: Account, id: string): { lb: LoadBalancer; listener: Listener } {
    return elb.ownListener(this.st, caller, id);
  }

  /** DescribeTargetHealth: the state of each target (or of those asked for) */
  targetHealth(caller: Account, tgId: string, asked?: ReadonlyArray<{ id: string; port?: number }>): TargetHealthRow[] {
    return health.targetGroupHealth(this.st, elb.ownTargetGroup(this.st, caller, tgId), asked);
  }

  /** a target's probe state: this node's own, else, on a fleet, what the live nodes probing it published (fleet-health.ts); null: none probes it */
  targetProbe(key: string): ReturnType<typeof probeView> {
    return probeView(this.st, key);
  }

  /** on a fleet: this node's probe states into the store, when they changed and another node is live (fleet-health.ts) */
  publishTargetHealth(): Promise<void> {
    return this.healthPublisher.publish();
  }

  /** on a clean stop: this node's published documents out of the store (its probe states, its verdict on the proxies enabled again) */
  async withdrawPublished(): Promise<void> {
    await this.healthPublisher.withdraw();
    await withdrawVerdict(this.st);
  }

  /** each backend port of a port-backed service, with its health (the Huawei API's backend_health) */
  serviceBackendHealth(s: EndpointService): TargetHealthRow[] {
    return health.serviceBackendHealth(this.st, s);
  }

  /** the load balancers whose listeners forward to a target group */
  loadBalancersOfTargetGroup(tgId: string): LoadBalancer[] {
    return [...new Set(elb.listenersTo(this.st, tgId).map((u) => u.lb))];
  }

  createLoadBalancer(caller: Account, cmd: CreateLoadBalancerCommand): Promise<LoadBalancer> {
    return elb.createLoadBalancer(this.st, caller, cmd);
  }

  setLoadBalancerSubnets(caller: Account, id: string, subnets: readonly string[]): Promise<LoadBalancer> {
    return elb.setLoadBalancerSubnets(this.st, caller, id, subnets);
  }

  deleteLoadBalancer(caller: Account, id: string): Promise<void> {
    return elb.deleteLoadBalancer(this.st, caller, id);
  }

  modifyLoadBalancerAttributes(caller: Account, id: string, changes: ReadonlyArray<{ key: string; value: string }>): Promise<LoadBalancer> {
    return elb.modifyLoadBalancerAttributes(this.st, caller, id, changes);
  }

  createTargetGroup(caller: Account, cmd: CreateTargetGroupCommand): Promise<TargetGroup> {
    return elb.createTargetGroup(this.st, caller, cmd);
  }

  deleteTargetGroup(caller: Account, id: string): Promise<void> {
    return elb.deleteTargetGroup(this.st, caller, id);
  }

  modifyTargetGroup(caller: Account, id: string, healthCheck: Partial<HealthCheck>): Promise<TargetGroup> {
    return elb.modifyTargetGroup(this.st, caller, id, healthCheck);
  }

  modifyTargetGroupAttributes(caller: Account, id: string, changes: ReadonlyArray<{ key: string; value: string }>): Promise<TargetGroup> {
    return elb.modifyTargetGroupAttributes(this.st, caller, id, changes);
  }

  registerTargets(caller: Account, id: string, targets: readonly TargetInput[]): Promise<TargetGroup> {
    return elb.registerTargets(this.st, caller, id, targets);
  }

  deregisterTargets(caller: Account, id: string, targets: readonly TargetInput[]): Promise<TargetGroup> {
    return elb.deregisterTargets(this.st, caller, id, targets);
  }

  createListener(caller: Account, cmd: CreateListenerCommand): Promise<{ lb: LoadBalancer; listener: Listener }> {
    return elb.createListener(this.st, caller, cmd);
  }

  modifyListener(caller: Account, id: string, cmd: ModifyListenerCommand): Promise<{ lb: LoadBalancer; listener: Listener }> {
    return elb.modifyListener(this.st, caller, id, cmd);
  }

  modifyListenerAttributes(caller: Account, id: string, changes: ReadonlyArray<{ key: string; value: string }>): Promise<Listener> {
    return elb.modifyListenerAttributes(this.st, caller, id, changes);
  }

  deleteListener(caller: Account, id: string): Promise<void> {
    return elb.deleteListener(this.st, caller, id);
  }

  tagElb(caller: Account, ref: ElbResourceRef, action: 'create' | 'delete', tags: readonly TagInput[]): Promise<void> {
    return elb.tagElb(this.st, caller, ref, action, tags);
  }

  // ---- start-up and shutdown -----------------------------------------------------------------

  /** brings the data plane to the stored state after a start or a crash (transitions.ts) */
  reconcile(): Promise<void> {
    return transitions.reconcile(this.st, provisioning.activateEndpointNow);
  }

  /** retries what is half-way (creating, deleting) until store and data plane agree; run periodically */
  async converge(): Promise<void> {
    const run = transitions.converge(this.st, false, provisioning.activateEndpointNow);
    this.st.track(run);
    await run.catch(() => undefined);
  }

  /** on a shared store: applies other daemons' committed batches to this daemon's state (follow.ts) */
  followStore(store: Store): Follower {
    return follow(this.st, store);
  }

  /** the leader's placement loop over the fleet given at construction (placement.ts); null without one */
  startPlacement(intervalMs: number): PlacementLoop | null {
    const st = this.st;
    return st.fleet ? placementLoop(st, st.fleet, intervalMs, (id) => react(st, id)) : null;
  }

  /** the fleet's nodes, their ENIs and connections, and the leader (GET /sim/nodes; counts only) */
  nodes(): FleetStatus {
    return fleetStatus(this.st);
  }

  /** waits for mutations and data-plane round trips under way; FINAL (the daemon stops): work waiting on the store gives up, for the next start */
  settle(o: { final?: boolean } = {}): Promise<void> {
    // an activation waiting out a provisioning delay goes on at once
    this.st.faults.stop();
    if (o.final) this.st.stopping = true;
    return this.st.settle();
  }
}
