// The agreement of the two deciders (issue 16): TypeScript's admission (admit(), then the SNAT pool
// and chooseBackend(), in EndpointRuntime.accept()'s order) and the native relay threads' decision
// from the rules compiled by src/dataplane/fast-path.ts (native/relay.cc FastCheck + the flow hash
// and the compiled choice, through the addon's fastDecide() test entry), on a table with every
// refusal reason the threads decide and on the backend each admitted flow goes to.
import { describe, expect, it } from 'vitest';
import { admit, type AclGateRule, type DaemonLoad, type EndpointGate, type GateRule, type NetworkAclGate, type RefusalReason } from '../../src/model/admission.js';
import { chooseBackend, choiceIndex, choiceReason, compileChoice, CHOICE_REASONS, flowHash, NO_CHOICE, type ChoiceInputs, type ChoiceRules } from '../../src/model/backend-choice.js';
import type { HealthView, ProbeState } from '../../src/model/health.js';
import { clientVpcOf } from '../../src/model/isolation.js';
import { cidrOf, ipToInt } from '../../src/net/cidr.js';
import { compileGate, refusalCode, writeLoad, writeVpcs } from '../../src/dataplane/fast-path.js';
import { REFUSAL_REASONS } from '../../src/dataplane/admission.js';
import { loadNativeRelay } from '../../src/dataplane/native-relay.js';

const relay = loadNativeRelay();
const inCi = process.env.CI === 'true';

/** VPC 1 is 10.0.0.0/16, VPC 2 is 10.1.0.0/16; 3 is no VPC */
const VPCS = new Map([[1, cidrOf('10.0.0.0/16').base], [2, cidrOf('10.1.0.0/16').base]]);
const isVpc = (k: number) => VPCS.has(k);

interface Target { key: string; host: string; port: number; zone: string | null }

interface Case {
  name: string;
  /** the client's host address and port */
  client: string;
  clientPort?: number;
  port?: number;
  closing?: boolean;
  eniZone?: string;
  zonesDown?: string[];
  active?: number;
  cap?: number;
  whitelist?: string[] | null;
  rules?: Array<[cidr: string, from: number, to: number]> | null;
  /** the ENI's subnet's network ACL inbound rules, in number order */
  acl?: AclRules | null;
  /** its outbound rules (the answers to the client's source port), in number order; absent: allow all */
  aclOut?: AclRules;
  load?: Partial<DaemonLoad>;
  snatLeft?: number;
  targets?: Target[];
  health?: Record<string, ProbeState>;
  crossZone?: boolean;
  zoneAffinity?: boolean;
  /** the reason expected of both (null: admitted) */
  want: RefusalReason | null;
}

type AclRules = Array<[cidr: string, from: number, to: number, action: 'allow' | 'deny']>;

const T2: Target[] = [
  { key: 'a', host: '127.0.0.1', port: 7001, zone: 'z-a' },
  { key: 'b', host: '127.0.0.1', port: 7002, zone: 'z-b' },
];

const CASES: Case[] = [
  { name: 'admitted: a client of the endpoint VPC', client: '127.1.0.5', want: null },
  { name: 'not_accepted: the endpoint is closing (rejected, deleted)', client: '127.1.0.5', closing: true, want: 'not_accepted' },
  { name: 'zone_down: the ENI zone is down', client: '127.1.0.5', eniZone: 'z-a', zonesDown: ['z-a'], want: 'zone_down' },
  { name: 'vpc: a client of another VPC', client: '127.2.0.5', want: 'vpc' },
  { name: 'on_premises: the host refused under on_premises deny', client: '127.0.0.1', load: { onPremises: 'deny' }, want: 'on_premises' },
  { name: 'on-premises allowed: the host', client: '127.0.0.1', want: null },
  { name: 'on_premises: 127.3.x.x carries no VPC number in use', client: '127.3.0.9', load: { onPremises: 'deny' }, want: 'on_premises' },
  { name: 'on_premises: a public service address (127.255.x.x)', client: '127.255.0.9', load: { onPremises: 'deny' }, want: 'on_premises' },
  { name: 'daemon_limit: the daemon ceiling reached', client: '127.1.0.5', load: { active: 10, maxConnections: 10 }, want: 'daemon_limit' },
  { name: 'fd_limit: the descriptor budget spent', client: '127.1.0.5', load: { active: 10, listeners: 5, fdBudget: 26 }, want: 'fd_limit' },
  { name: 'fd_limit: one connection left in the budget', client: '127.1.0.5', load: { active: 10, listeners: 5, fdBudget: 27 }, want: null },
  { name: 'cap: 3,000 open of 3,000', client: '127.1.0.5', active: 3000, cap: 3000, want: 'cap' },
  { name: 'cap: 2,999 open of 3,000 admits the 3,000th', client: '127.1.0.5', active: 2999, cap: 3000, want: null },
  { name: 'cap before whitelist', client: '127.1.0.5', active: 5, cap: 5, whitelist: ['10.0.9.0/24'], want: 'cap' },
  { name: 'whitelist: not listed', client: '127.1.0.5', whitelist: ['10.0.9.0/24'], want: 'whitelist' },
  { name: 'whitelist: listed (simulated 10.0.0.5)', client: '127.1.0.5', whitelist: ['10.0.9.0/24', '10.0.0.0/29'], want: null },
  { name: 'whitelist: an on-premises client is never listed', client: '127.0.0.1', whitelist: ['0.0.0.0/0'], want: 'whitelist' },
  { name: 'whitelist on, empty', client: '127.1.0.5', whitelist: [], want: 'whitelist' },
  { name: 'security_group: no rule', client: '127.1.0.5', rules: [], want: 'security_group' },
  { name: 'security_group: the source matches, not the port', client: '127.1.0.5', rules: [['10.0.0.0/16', 81, 90]], want: 'security_group' },
  { name: 'security_group: the port matches, not the source', client: '127.1.0.5', rules: [['10.0.1.0/24', 80, 80]], want: 'security_group' },
  { name: 'security group: a rule admits (simulated source, port range)', client: '127.1.1.7', rules: [['10.0.9.0/24', 1, 65535], ['10.0.1.0/24', 70, 80]], want: null },
  { name: 'security group: an on-premises client by its own address', client: '127.0.0.1', rules: [['127.0.0.0/8', 80, 80]], want: null },
  { name: 'whitelist before security group', client: '127.1.0.5', whitelist: [], rules: [], want: 'whitelist' },
  { name: 'network_acl: no rule holds the client (the * rule)', client: '127.1.0.5', acl: [], want: 'network_acl' },
  { name: 'network_acl: the first rule holding the client denies, a later one allows', client: '127.1.0.5', acl: [['10.0.0.0/24', 80, 80, 'deny'], ['10.0.0.0/16', 0, 65535, 'allow']], want: 'network_acl' },
  { name: 'network ACL: a deny of another port, then an allow (first match by number)', client: '127.1.0.5', acl: [['10.0.0.0/16', 81, 90, 'deny'], ['10.0.0.0/16', 0, 65535, 'allow']], want: null },
  { name: 'network_acl: the source matches, not the port', client: '127.1.0.5', acl: [['10.0.0.0/16', 443, 443, 'allow']], want: 'network_acl' },
  { name: 'network ACL: an on-premises client by its own address', client: '127.0.0.1', acl: [['10.0.0.0/8', 0, 65535, 'deny'], ['127.0.0.0/8', 80, 80, 'allow']], want: null },
  { name: 'whitelist before network ACL', client: '127.1.0.5', whitelist: [], acl: [], want: 'whitelist' },
  { name: 'network ACL before security group', client: '127.1.0.5', acl: [], rules: [], want: 'network_acl' },
  { name: 'network ACL allows, then the security group refuses', client: '127.1.0.5', acl: [['0.0.0.0/0', 0, 65535, 'allow']], rules: [], want: 'security_group' },
  { name: 'network_acl: no outbound rule holds the answers (the * rule)', client: '127.1.0.5', acl: [['0.0.0.0/0', 0, 65535, 'allow']], aclOut: [], want: 'network_acl' },
  { name: 'network_acl: an outbound deny of the client\'s address (simulated 10.0.0.5)', client: '127.1.0.5', acl: [['0.0.0.0/0', 0, 65535, 'allow']], aclOut: [['10.0.0.0/29', 0, 65535, 'deny'], ['0.0.0.0/0', 0, 65535, 'allow']], want: 'network_acl' },
  { name: 'network ACL: an outbound allow of the ephemeral ports admits a client at 40000', client: '127.1.0.5', acl: [['0.0.0.0/0', 80, 80, 'allow']], aclOut: [['10.0.0.0/16', 1024, 65535, 'allow']], want: null },
  { name: 'network_acl: a client at source port 1000 outside the outbound allow of 1024-65535', client: '127.1.0.5', clientPort: 1000, acl: [['0.0.0.0/0', 80, 80, 'allow']], aclOut: [['10.0.0.0/16', 1024, 65535, 'allow']], want: 'network_acl' },
  { name: 'network_acl: the outbound rules read the source port, not the terminal port', client: '127.1.0.5', clientPort: 40000, acl: [['0.0.0.0/0', 80, 80, 'allow']], aclOut: [['10.0.0.0/16', 80, 80, 'allow']], want: 'network_acl' },
  { name: 'network ACL: outbound first match by number, a deny of other ports then an allow', client: '127.1.0.5', clientPort: 40000, acl: [['0.0.0.0/0', 80, 80, 'allow']], aclOut: [['0.0.0.0/0', 0, 1023, 'deny'], ['0.0.0.0/0', 0, 65535, 'allow']], want: null },
  { name: 'network ACL: outbound, an on-premises client by its own address', client: '127.0.0.1', acl: [['127.0.0.0/8', 80, 80, 'allow']], aclOut: [['10.0.0.0/8', 0, 65535, 'deny'], ['127.0.0.0/8', 1024, 65535, 'allow']], want: null },
  { name: 'network_acl: inbound allows, outbound denies, before the security group', client: '127.1.0.5', acl: [['0.0.0.0/0', 0, 65535, 'allow']], aclOut: [['0.0.0.0/0', 0, 65535, 'deny']], rules: [], want: 'network_acl' },
  { name: 'snat_exhausted: no SNAT port left', client: '127.1.0.5', snatLeft: 0, want: 'snat_exhausted' },
  { name: 'backend_unreachable: no target at all', client: '127.1.0.5', targets: [], want: 'backend_unreachable' },
  { name: 'no healthy backend: fail open admits', client: '127.1.0.5', targets: T2, health: { a: 'unhealthy', b: 'unhealthy' }, want: null },
  { name: 'backend_unreachable: fail open lands in a down zone', client: '127.1.0.5', clientPort: 40001, targets: [T2[0]!], health: { a: 'unhealthy' }, zonesDown: ['z-a'], eniZone: 'z-b', want: 'backend_unreachable' },
  { name: 'failover: the ENI zone has no eligible target', client: '127.1.0.5', eniZone: 'z-a', crossZone: false, targets: T2, health: { a: 'unhealthy' }, want: null },
];

const aclRulesOf = (rules: AclRules): AclGateRule[] => rules.map(([cidr, from, to, action]) => ({ cidr: cidrOf(cidr), from, to, allow: action === 'allow' }));

function decideTs(
  c: Case, load: DaemonLoad, gate: EndpointGate, acl: NetworkAclGate | null, inputs: ChoiceInputs, rules: ChoiceRules, targets: Target[], eniHost: string, port: number,
): { reason: RefusalReason | null; target: number; choice: string | null } {
  const ip = ipToInt(c.client);
  const clientPort = c.clientPort ?? 40000;
  const reason = c.closing ? 'not_accepted' : inputs.zoneDown(rules.zone) ? 'zone_down' : admit(gate, load, ip, clientVpcOf(ip, isVpc), port, acl, clientPort) ?? ((c.snatLeft ?? 1) === 0 ? 'snat_exhausted' : null);
  if (reason !== null) return { reason, target: -1, choice: null };
  const ch = chooseBackend(targets, rules, inputs, flowHash(ip, clientPort, ipToInt(eniHost), port));
  if (ch === NO_CHOICE) return { reason: 'backend_unreachable', target: -1, choice: null };
  const t = targets[choiceIndex(ch)]!;
  return { reason: inputs.zoneDown(t.zone) ? 'backend_unreachable' : null, target: choiceIndex(ch), choice: choiceReason(ch) };
}

describe.skipIf(relay === null && !inCi)('the fast path: the threads decide as admit() does', () => {
  it('the addon is built (CI must build it)', () => {
    expect(relay).not.toBeNull();
  });

  it.each(CASES)('$name', (c) => {
    const r = relay!;
    const port = c.port ?? 80;
    const eniHost = '127.1.0.10';
    const load: DaemonLoad = { active: 0, maxConnections: 100_000, fdBudget: 1_000_000, listeners: 0, onPremises: 'allow', ...c.load };
    const whitelist = (c.whitelist ?? []).map(cidrOf);
    const securityRules: GateRule[] | null = c.rules === undefined || c.rules === null ? null : c.rules.map(([cidr, from, to]) => ({ cidr: cidrOf(cidr), from, to }));
    const gate: EndpointGate = { active: c.active ?? 0, cap: c.cap ?? 3000, whitelistEnabled: c.whitelist !== undefined && c.whitelist !== null, whitelist, vpcNumber: 1, vpcBase: VPCS.get(1)!, securityRules };
    const acl: NetworkAclGate | null = c.acl ? { inbound: aclRulesOf(c.acl), outbound: aclRulesOf(c.aclOut ?? [['0.0.0.0/0', 0, 65535, 'allow']]) } : null;
    const down = new Set(c.zonesDown ?? []);
    const health: HealthView = { state: (k) => c.health?.[k] ?? 'initial', reason: () => null };
    const inputs: ChoiceInputs = { health, zoneDown: (z) => z !== null && down.has(z) };
    const rules: ChoiceRules = { zone: c.eniZone ?? 'z-a', crossZone: c.crossZone ?? true, zoneAffinity: c.zoneAffinity ?? false };
    const targets = c.targets ?? [{ key: 'x', host: '127.0.0.1', port: 7000, zone: null }];
    const ts = decideTs(c, load, gate, acl, inputs, rules, targets, eniHost, port);
    expect(ts.reason, 'the table says what admit() decides').toBe(c.want);

    writeLoad(r.globals, { maxConnections: load.maxConnections, fdBudget: load.fdBudget, listeners: load.listeners, slowActive: 0, onPremisesAllowed: load.onPremises === 'allow', connectTimeoutMs: 0, idleTimeoutMs: 0 });
    writeVpcs(r.globals, VPCS);
    const compiled = compileGate({
      refuseAll: c.closing ? 'not_accepted' : null,
      zoneDown: inputs.zoneDown(rules.zone),
      capLeft: gate.cap,
      vpcNumber: 1,
      vpcBase: gate.vpcBase,
      port,
      eniHostIp: ipToInt(eniHost),
      sourceIp: 0,
      whitelistEnabled: gate.whitelistEnabled,
      whitelist,
      securityRules,
      networkAcl: acl,
      targets: targets.map((t) => ({ ip: ipToInt(t.host), port: t.port, zoneDown: inputs.zoneDown(t.zone) })),
      choice: compileChoice(targets, rules, inputs),
      rate: 0,
      idleTimeoutMs: 0,
    });
    const native = r.fastDecide(compiled, null, ipToInt(c.client), c.clientPort ?? 40000, load.active, gate.active, c.snatLeft ?? 1);
    expect(native.refusal === -1 ? null : REFUSAL_REASONS[native.refusal]).toBe(c.want);
    if (c.want === null) {
      expect(native.target).toBe(ts.target);
      expect(CHOICE_REASONS[native.reason]).toBe(ts.choice);
    }
    if (c.want !== null) expect(native.refusal).toBe(refusalCode(c.want));
  });

  it('the backend of every flow: the same target and reason as chooseBackend(), over zones, health and 300 client ports', () => {
    const r = relay!;
    const targets: Target[] = [
      { key: 'a1', host: '127.0.0.1', port: 7001, zone: 'z-a' }, { key: 'a2', host: '127.0.0.2', port: 7002, zone: 'z-a' },
      { key: 'b1', host: '127.0.0.3', port: 7003, zone: 'z-b' }, { key: 'n', host: '127.0.0.4', port: 7004, zone: null },
    ];
    const healths: Array<Record<string, ProbeState>> = [{}, { a1: 'unhealthy' }, { a1: 'unhealthy', a2: 'unhealthy' }, { a1: 'unhealthy', a2: 'unhealthy', n: 'unhealthy' }, { a1: 'unhealthy', a2: 'unhealthy', b1: 'unhealthy', n: 'unhealthy' }];
    const seen = new Set<string>();
    let flows = 0;
    for (const states of healths) {
      for (const rules of [
        { zone: 'z-a', crossZone: true, zoneAffinity: false }, { zone: 'z-a', crossZone: false, zoneAffinity: false },
        { zone: 'z-b', crossZone: true, zoneAffinity: true }, { zone: null, crossZone: true, zoneAffinity: false },
      ] as ChoiceRules[]) {
        const inputs: ChoiceInputs = { health: { state: (k) => states[k] ?? 'initial', reason: () => null }, zoneDown: () => false };
        const compiled = compileGate({
          refuseAll: null, zoneDown: false, capLeft: 3000, vpcNumber: 1, vpcBase: VPCS.get(1)!, port: 443, eniHostIp: ipToInt('127.1.2.3'), sourceIp: 0,
          whitelistEnabled: false, whitelist: [], securityRules: null, networkAcl: null,
          targets: targets.map((t) => ({ ip: ipToInt(t.host), port: t.port, zoneDown: false })), choice: compileChoice(targets, rules, inputs), rate: 0, idleTimeoutMs: 0,
        });
        for (let p = 30000; p < 30300; p++) {
          const ch = chooseBackend(targets, rules, inputs, flowHash(ipToInt('127.1.0.77'), p, ipToInt('127.1.2.3'), 443));
          const native = r.fastDecide(compiled, null, ipToInt('127.1.0.77'), p, 0, 0, 1);
          expect(native.hash).toBe(flowHash(ipToInt('127.1.0.77'), p, ipToInt('127.1.2.3'), 443));
          expect({ target: native.target, reason: CHOICE_REASONS[native.reason] }).toEqual({ target: choiceIndex(ch), reason: choiceReason(ch) });
          seen.add(choiceReason(ch));
          flows++;
        }
      }
    }
    expect(flows).toBe(5 * 4 * 300);
    // every reason of the choice came up
    expect([...seen].sort()).toEqual([...CHOICE_REASONS].sort());
  });
});
