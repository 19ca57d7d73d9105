// Fault injection in the control plane: the toxics of every scope and the proxies taken down,
// stored as one document (kind `fault`) and published to the data plane as plain data
// (ChangeEvent 'faults'). Stored, so that every node of a fleet holds the same and the node serving
// an endpoint applies what another node's API changed (follow.ts); a restart keeps them too, where
// Toxiproxy forgets its own (README "Fault injection"). A deleted endpoint or service takes the
// toxics naming it (and its proxies taken down) with it: an id is never reused, so they would only
// linger in the lists. A port a service no longer has takes those of its endpoints' proxies on it:
// they would linger too, and come back with the port.
import { seesBackends, serviceAddress } from '../model/consumer-view.js';
import { DomainError } from '../model/errors.js';
import { MAX_TOXICS_PER_SCOPE, parseProxyName, parseToxic, proxyEndpoint, proxyName, scopeKey, updateToxic, type InjectedFaults, type Toxic, type ToxicRule, type ToxicScope } from '../model/toxics.js';
import type { Account, Endpoint } from '../model/types.js';
import { FAULTS_DOCUMENT, type ControlState } from './state.js';
import { awaitVerdicts, verdictsOwed, type VerdictsOwed } from './fault-verdicts.js';
import { clientPortsOf, failureName, liveSpec, sendFaults } from './transitions.js';
import { checkZone } from './zones.js';

/** one endpoint listener, as Toxiproxy's API shows a proxy */
export interface ProxyView {
  readonly name: string;
  readonly endpoint: string;
  readonly port: number;
  /** the first ENI's host address and the terminal port */
  readonly listen: string;
  /**
   * the port's first backend; for a consumer of another account's service (or a public one) the
   * service and the port, `<service name>:<port>` (src/model/consumer-view.ts)
   */
  readonly upstream: string;
  readonly enabled: boolean;
  readonly toxics: readonly Toxic[];
}

export class Faults {
  /** the proxies taken down of the stored state it was made of (a list of every proxy asks once per proxy) */
  private disabledOf: { readonly from: InjectedFaults; readonly names: ReadonlySet<string> } | undefined;

  constructor(private readonly st: ControlState) {
    st.removalListeners.push((kind, id) => (kind === 'ports' ? this.forgetPorts(id) : this.forget(kind, id)));
  }

  /** every toxic, in the order added, as stored */
  private get rules(): readonly ToxicRule[] {
    return this.st.injectedFaults.toxics;
  }

  /** the proxies taken down, as stored */
  private get disabled(): ReadonlySet<string> {
    const from = this.st.injectedFaults;
    if (this.disabledOf?.from !== from) this.disabledOf = { from, names: new Set(from.disabled) };
    return this.disabledOf.names;
  }

  /** every endpoint listener (Toxiproxy's proxies), of every account: the operator's view */
  proxies(): ProxyView[] {
    const out: ProxyView[] = [];
    for (const e of this.st.endpoints.values()) out.push(...this.proxiesOf(e, null));
    return out;
  }

  /** an endpoint's proxies as `viewer` sees them (null: the operator, who sees every backend) */
  private proxiesOf(e: Endpoint, viewer: Account | null): ProxyView[] {
    const spec = liveSpec(this.st, e);
    if (!spec || e.status !== 'accepted') return [];
    const owner = this.st.services.get(e.service_id)?.owner;
    const shown = viewer === null || (owner !== undefined && seesBackends(viewer.name, owner));
    return spec.backends.map((b) => {
      const name = proxyName(e.id, b.client_port);
      return {
        name, endpoint: e.id, port: b.client_port, listen: `${spec.host_ip}:${b.client_port}`,
        upstream: shown ? `${b.host}:${b.port}` : serviceAddress(e.service_name, b.client_port),
        enabled: !this.disabled.has(name), toxics: this.toxics({ kind: 'port', endpoint: e.id, port: b.client_port }),
      };
    });
  }

  /** the proxies of the caller's own endpoints (vpcep-sim's API) */
  proxiesOwnedBy(caller: Account): ProxyView[] {
    const out: ProxyView[] = [];
    for (const e of this.st.endpoints.values()) if (e.owner === caller.name) out.push(...this.proxiesOf(e, caller));
    return out;
  }

  /** a proxy of the caller's own endpoint: EndpointNotFound (another's endpoint does not exist for it), else PortNotFound */
  ownProxy(caller: Account, name: string): ProxyView {
    const e = this.st.ownEndpoint(caller, proxyEndpoint(name));
    const p = this.proxiesOf(e, caller).find((x) => x.name === name);
    if (!p) throw new DomainError('PortNotFound', `endpoint ${e.id} has no proxy ${JSON.stringify(name.slice(0, 100))}: proxies are <endpoint id>:<terminal port> of accepted endpoints`);
    return p;
  }

  /** a proxy by name, as the operator sees it (Toxiproxy's API), or EndpointNotFound with Toxiproxy's words */
  proxy(name: string): ProxyView {
    const e = this.st.endpoints.get(proxyEndpoint(name));
    const p = e && this.proxiesOf(e, null).find((x) => x.name === name);
    if (!p) throw new DomainError('EndpointNotFound', `proxy not found: ${JSON.stringify(name.slice(0, 100))} (proxies are <endpoint id>:<port> of accepted endpoints)`);
    return p;
  }

  /**
   * the scope a caller of vpcep-sim's API names, checked: its own endpoint (and one of its ports)
   * or service; a zone or the whole data plane: any account, as a zone outage (README "Zones")
   */
  ownScope(caller: Account, scope: ToxicScope): ToxicScope {
    switch (scope.kind) {
      case 'port': {
        const e = this.st.ownEndpoint(caller, scope.endpoint);
        if (!this.proxiesOf(e, caller).some((p) => p.port === scope.port)) {
          throw new DomainError('PortNotFound', `endpoint ${e.id} has no terminal port ${scope.port}`);
        }
        return scope;
      }
      case 'endpoint':
        this.st.ownEndpoint(caller, scope.endpoint);
        return scope;
      case 'service':
        this.st.ownService(caller, scope.service);
        return scope;
      case 'zone':
        checkZone(this.st, scope.zone);
        return scope;
      case 'all':
        return scope;
    }
  }

  /** the toxics of one scope, in the order added */
  toxics(scope: ToxicScope): Toxic[] {
    const key = scopeKey(scope);
    return this.rules.filter((r) => scopeKey(r.scope) === key).map((r) => r.toxic);
  }

  /** the toxics a caller sees: those of its own endpoints and services, and the region's (zones, all) */
  visibleTo(caller: Account): ToxicRule[] {
    return this.rules.filter(({ scope: s }) => (s.kind === 'port' || s.kind === 'endpoint' ? this.st.endpoints.get(s.endpoint)?.owner === caller.name
      : s.kind === 'service' ? this.st.services.get(s.service)?.owner === caller.name : true));
  }

  toxic(scope: ToxicScope, name: string): Toxic {
    const t = this.toxics(scope).find((x) => x.name === name);
    if (!t) throw new DomainError('ToxicNotFound', `toxic not found: ${JSON.stringify(name.slice(0, 64))}`);
    return t;
  }

  /** adds a toxic from a request's body; ToxicExists when the scope has one of that name, QuotaExceeded when it is full */
  add(scope: ToxicScope, body: unknown): Promise<Toxic> {
    return this.st.serial(async () => {
      const t = parseToxic(body);
      const present = this.toxics(scope);
      if (present.some((x) => x.name === t.name)) throw new DomainError('ToxicExists', `toxic already exists: ${t.name}`);
      if (present.length >= MAX_TOXICS_PER_SCOPE) {
        throw new DomainError('QuotaExceeded', `a scope holds at most ${MAX_TOXICS_PER_SCOPE} toxics: remove one (or POST /reset) first`);
      }
      await this.publish([...this.rules, { scope, toxic: t }], this.disabled);
      return t;
    });
  }

  update(scope: ToxicScope, name: string, body: unknown): Promise<Toxic> {
    return this.st.serial(async () => {
      const t = updateToxic(this.toxic(scope, name), body);
      const key = scopeKey(scope);
      await this.publish(this.rules.map((r) => (scopeKey(r.scope) === key && r.toxic.name === name ? { scope, toxic: t } : r)), this.disabled);
      return t;
    });
  }

  remove(scope: ToxicScope, name: string): Promise<void> {
    return this.st.serial(async () => {
      this.toxic(scope, name);
      const key = scopeKey(scope);
      await this.publish(this.rules.filter((r) => !(scopeKey(r.scope) === key && r.toxic.name === name)), this.disabled);
    });
  }

  /**
   * Toxiproxy's enabled: false closes the proxy's listeners (connections refused), true binds them
   * again; answers the proxy as `viewer`, its endpoint's owner, sees it (null: the operator). On a
   * fleet, a proxy enabled again that another node serves answers that node's verdict (fault-verdicts.ts).
   */
  async setEnabled(name: string, enabled: boolean, viewer: Account | null): Promise<ProxyView> {
    const owed = await this.st.serial(async () => {
      this.proxy(name);
      const next = new Set(this.disabled);
      if (enabled) next.delete(name);
      else next.add(name);
      return this.publish(this.rules, next);
    });
    // outside the mutation queue: the wait holds up no other change of this node
    await awaitVerdicts(this.st, owed);
    return viewer === null ? this.proxy(name) : this.ownProxy(viewer, name);
  }

  /** Toxiproxy's POST /reset: every toxic removed (of every scope), every proxy enabled (on a fleet, as their owners' verdicts say) */
  async reset(): Promise<void> {
    await awaitVerdicts(this.st, await this.st.serial(() => this.publish([], new Set())));
  }

  /** the toxics whose scope names a deleted endpoint (its ports too) or service, and its proxies taken down, removed */
  private forget(kind: 'endpoint' | 'service', id: string): Promise<void> {
    const names = (s: ToxicScope) => (kind === 'endpoint' ? (s.kind === 'endpoint' || s.kind === 'port') && s.endpoint === id : s.kind === 'service' && s.service === id);
    return this.drop(names, (name) => kind === 'endpoint' && proxyEndpoint(name) === id);
  }

  /** the toxics and proxies taken down of the ports a service's endpoints no longer have, removed */
  private forgetPorts(service: string): Promise<void> {
    // read when matched (again in the mutation queue): the service as it is then
    const gone = (endpoint: string, port: number) => {
      const s = this.st.services.get(service);
      return s !== undefined && this.st.endpoints.get(endpoint)?.service_id === service && !clientPortsOf(this.st, s).has(port);
    };
    return this.drop((sc) => sc.kind === 'port' && gone(sc.endpoint, sc.port), (name) => {
      const p = parseProxyName(name);
      return p !== null && gone(p.endpoint, p.port);
    });
  }

  /** the toxics of the scopes NAMES matches and the proxies taken down PROXY matches, removed (none: nothing stored) */
  private drop(names: (s: ToxicScope) => boolean, proxy: (name: string) => boolean): Promise<void> {
    if (!this.rules.some((r) => names(r.scope)) && ![...this.disabled].some(proxy)) return Promise.resolve();
    return this.st.serial(async () => {
      // what it removes enables no proxy that is still there: no verdict owed
      await this.publish(this.rules.filter((r) => !names(r.scope)), new Set([...this.disabled].filter((n) => !proxy(n))));
    });
  }

  /**
   * Tells this node's data plane, then stores the new state once it took it; a listener that
   * cannot bind again here (enabled: true) leaves everything as it was. Other nodes apply it once
   * their watch brings the document (follow.ts); answers the verdicts owed by those serving a proxy
   * it enables again (fault-verdicts.ts), undefined on a single node.
   */
  private async publish(rules: readonly ToxicRule[], disabled: ReadonlySet<string>): Promise<VerdictsOwed | undefined> {
    const was = this.st.injectedFaults;
    const next: InjectedFaults = { toxics: rules, disabled: [...disabled] };
    const ack = await sendFaults(this.st, next);
    if (!ack.ok) {
      await sendFaults(this.st, was);
      throw new DomainError(failureName(ack.failure), ack.reason);
    }
    if (JSON.stringify(next) === JSON.stringify(was)) return undefined;
    const empty = !next.toxics.length && !next.disabled.length;
    let revision: number;
    try {
      // none left: the document goes (a store that never had one stays as it was)
      revision = await this.st.commit([{ kind: 'fault', id: FAULTS_DOCUMENT, value: empty ? null : next }], () => { this.st.injectedFaults = next; });
    } catch (err) {
      // not stored (another node changed them first, or the store is away): the data plane as it was; a conflict runs the change again
      await sendFaults(this.st, this.st.injectedFaults);
      throw err;
    }
    return verdictsOwed(this.st, was, next, revision);
  }
}
