// The data plane's side of fault injection: the toxics of every scope as the control plane last
// published them, the live connections relayed through toxics (re-linked on a change), and the
// proxies taken down through Toxiproxy's API.
import { proxyEndpoint, proxyName, scopeCovers, type ToxicRule, type ToxicTarget } from '../../model/toxics.js';
import { ruleKey, ToxicLink } from './link.js';
import { toxicFigures } from './transforms.js';

export class DataPlaneFaults {
  private rules: readonly ToxicRule[] = [];
  private disabled = new Set<string>();
  /** live connections on the toxic path */
  private readonly links = new Set<ToxicLink>();
  /** the toxics published before the last change and unchanged by it (scope/name): a live plain connection drew them off */
  private unchanged: ReadonlySet<string> = new Set();

  /**
   * The link of a new connection, or null when no toxic's scope covers it or none's toxicity
   * applied to it (it stays on the plain relay). LIVE: a connection already relayed plainly
   * (handed over when a new or changed toxic applies to it; the unchanged ones it drew off before).
   */
  linkFor(endpoint: string, service: string, port: number, zone: string, live = false): ToxicLink | null {
    if (this.rules.length === 0) return null;
    const target: ToxicTarget = { endpoint, service, port, zone };
    const rules = this.rules.filter((r) => scopeCovers(r.scope, target));
    if (rules.length === 0) return null;
    const link = new ToxicLink(target, rules, this.links, live ? this.unchanged : null);
    if (link.applies) return link;
    link.stop();
    return null;
  }

  /** whether the last change added or changed a toxic (live plain connections may be handed over) */
  get anyNew(): boolean {
    return this.rules.length > this.unchanged.size;
  }

  /** whether some toxic's scope covers a new connection there (nothing made: the fast path's eligibility) */
  covers(endpoint: string, service: string, port: number, zone: string): boolean {
    if (this.rules.length === 0) return false;
    const target: ToxicTarget = { endpoint, service, port, zone };
    return this.rules.some((r) => scopeCovers(r.scope, target));
  }

  proxyDisabled(endpoint: string, port: number): boolean {
    return this.disabled.size > 0 && this.disabled.has(proxyName(endpoint, port));
  }

  /** takes the published state; answers the endpoints whose proxies were enabled or disabled (their listeners change) */
  apply(rules: readonly ToxicRule[], disabled: readonly string[]): Set<string> {
    const before = new Map(this.rules.map((r) => [ruleKey(r), JSON.stringify(r.toxic)]));
    this.unchanged = new Set(rules.filter((r) => before.get(ruleKey(r)) === JSON.stringify(r.toxic)).map(ruleKey));
    this.rules = rules;
    const next = new Set(disabled);
    const changed = new Set<string>();
    for (const name of next) if (!this.disabled.has(name)) changed.add(proxyEndpoint(name));
    for (const name of this.disabled) if (!next.has(name)) changed.add(proxyEndpoint(name));
    this.disabled = next;
    for (const link of this.links) link.relink(rules.filter((r) => scopeCovers(r.scope, link.target)));
    return changed;
  }

  /** the toxics published now, by type and scope kind (vpcep_toxics_active) */
  active(): Array<{ type: string; scope: string; count: number }> {
    const counts = new Map<string, { type: string; scope: string; count: number }>();
    for (const r of this.rules) {
      const key = `${r.toxic.type}/${r.scope.kind}`;
      const c = counts.get(key) ?? { type: r.toxic.type, scope: r.scope.kind, count: 0 };
      c.count++;
      counts.set(key, c);
    }
    return [...counts.values()];
  }

  /** connections relayed through toxics now */
  get linked(): number {
    return this.links.size;
  }

  get figures(): typeof toxicFigures {
    return toxicFigures;
  }
}
