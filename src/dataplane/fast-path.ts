// The native relay's fast path (issue 16): the relay threads accept, admit, connect and relay in
// one loop, deciding admission from state compiled here from the same rules admit() and
// chooseBackend() apply (src/model/admission.ts, src/model/backend-choice.ts). Integers only:
// CIDRs as [low, high] ranges, the backends as address and port numbers, the choice as the list
// of targets a flow hash picks from, PROXY v2 as a header whose source the thread fills in.
// test/unit/fast-path.test.ts proves the threads' decision and admit()'s agree on a table of cases.
import type { CompiledChoice } from '../model/backend-choice.js';
import { CHOICE_REASONS } from '../model/backend-choice.js';
import { lastAddress, type Cidr } from '../net/cidr.js';
import { REFUSAL_REASONS, type AclGateRule, type GateRule, type NetworkAclGate, type RefusalReason } from './admission.js';

/** words before the variable part (native/relay.cc FastParse) */
const HEAD = 19;

/** what one listener (an ENI and terminal port) of an endpoint admits by, as plain data */
export interface FastGate {
  /** a refusal of every connection (not_accepted), or null: accepting */
  readonly refuseAll: RefusalReason | null;
  /** the ENI's zone is down */
  readonly zoneDown: boolean;
  /** the cap less the endpoint's connections on the event loop's path (the threads count their own) */
  readonly capLeft: number;
  readonly vpcNumber: number;
  readonly vpcBase: number;
  /** the terminal port */
  readonly port: number;
  /** the ENI's host address (the flow hash reads its text) */
  readonly eniHostIp: number;
  /** kernel SNAT: the endpoint's SNAT address the backend connection binds; 0: none (logical) */
  readonly sourceIp: number;
  readonly whitelistEnabled: boolean;
  readonly whitelist: readonly Cidr[];
  readonly securityRules: readonly GateRule[] | null;
  /** the rules of the ENI's subnet's network ACL, each direction first match by number; null: not enforced */
  readonly networkAcl: NetworkAclGate | null;
  /** the terminal port's targets as integers, in order */
  readonly targets: ReadonlyArray<{ readonly ip: number; readonly port: number; readonly zoneDown: boolean }>;
  readonly choice: CompiledChoice;
  /** each connection's bandwidth limit both ways, bytes/s (0: none): the threads' token buckets apply it */
  readonly rate: number;
  /** the idle timeout of its connections (ms), its NLB listener's; 0: the daemon's (the globals' word) */
  readonly idleTimeoutMs: number;
}

/** the refusal's code on the threads: its index in REFUSAL_REASONS */
export const refusalCode = (r: RefusalReason): number => REFUSAL_REASONS.indexOf(r);

/** the Uint32Array native/relay.cc FastParse() reads */
export function compileGate(g: FastGate): Uint32Array {
  const wl = g.whitelist;
  const sg = g.securityRules ?? [];
  const inbound = g.networkAcl?.inbound ?? [];
  const outbound = g.networkAcl?.outbound ?? [];
  const cand = g.choice.candidates;
  const out = new Uint32Array(HEAD + wl.length * 2 + sg.length * 4 + (inbound.length + outbound.length) * 5 + cand.length * 4);
  out[0] = g.refuseAll === null ? 0xffffffff : refusalCode(g.refuseAll);
  out[1] = g.zoneDown ? 1 : 0;
  out[2] = Math.max(-0x80000000, Math.min(0x7fffffff, g.capLeft)) >>> 0;
  out[3] = g.vpcNumber;
  out[4] = g.vpcBase;
  out[5] = g.port;
  out[6] = g.eniHostIp;
  out[7] = g.sourceIp;
  out[8] = g.whitelistEnabled ? 1 : 0;
  out[9] = wl.length;
  out[10] = g.securityRules !== null ? 1 : 0;
  out[11] = sg.length;
  out[12] = cand.length;
  out[13] = CHOICE_REASONS.indexOf(g.choice.reason);
  out[14] = Math.max(0, Math.min(0xffffffff, Math.round(g.rate)));
  out[15] = Math.max(0, Math.min(0xffffffff, g.idleTimeoutMs));
  out[16] = g.networkAcl !== null ? 1 : 0;
  out[17] = inbound.length;
  out[18] = outbound.length;
  let o = HEAD;
  for (const c of wl) {
    out[o++] = c.base;
    out[o++] = lastAddress(c);
  }
  for (const r of sg) {
    out[o++] = r.cidr.base;
    out[o++] = lastAddress(r.cidr);
    out[o++] = r.from;
    out[o++] = r.to;
  }
  o = writeAclRules(out, o, inbound);
  o = writeAclRules(out, o, outbound);
  for (const i of cand) {
    const t = g.targets[i]!;
    out[o++] = t.ip;
    out[o++] = t.port;
    out[o++] = i;
    out[o++] = g.choice.reason === 'fail_open' && t.zoneDown ? 1 : 0;
  }
  return out;
}

/** one direction of a network ACL, 5 words a rule: [low, high] addresses, the ports, allow; the next offset */
function writeAclRules(out: Uint32Array, at: number, rules: readonly AclGateRule[]): number {
  let o = at;
  for (const r of rules) {
    out[o++] = r.cidr.base;
    out[o++] = lastAddress(r.cidr);
    out[o++] = r.from;
    out[o++] = r.to;
    out[o++] = r.allow ? 1 : 0;
  }
  return o;
}

/** native/relay.cc kGlobal*: the daemon-wide inputs the threads read */
export const GLOBAL_WORDS = 8 + 256 + 8;
const VPC_BASE = 8;
const IS_VPC = VPC_BASE + 256;

/** what the daemon-wide admission reads (src/model/admission.ts DaemonLoad) and the VPCs there are */
export interface FastGlobalsInput {
  readonly maxConnections: number;
  readonly fdBudget: number;
  readonly listeners: number;
  /** connections open on the event loop's path (the threads count their own) */
  readonly slowActive: number;
  readonly onPremisesAllowed: boolean;
  /** the connect and idle timeouts (ms) the threads apply to their connections; 0: TypeScript's sweep does (an injected clock) */
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** writes the daemon's load into the words the threads read (no call into the addon) */
export function writeLoad(words: Uint32Array, l: FastGlobalsInput): void {
  words[0] = Math.max(0, Math.min(0xffffffff, l.maxConnections));
  words[1] = Math.max(0, Math.min(0xffffffff, l.fdBudget));
  words[2] = l.listeners;
  words[3] = Math.max(0, l.slowActive);
  words[4] = l.onPremisesAllowed ? 1 : 0;
  words[5] = Math.max(0, Math.min(0xffffffff, l.connectTimeoutMs));
  words[6] = Math.max(0, Math.min(0xffffffff, l.idleTimeoutMs));
}

/** writes the VPCs (number -> network base) into the words the threads read */
export function writeVpcs(words: Uint32Array, bases: ReadonlyMap<number, number>): void {
  words.fill(0, VPC_BASE, IS_VPC + 8);
  for (const [k, base] of bases) {
    if (k < 1 || k > 254) continue;
    words[VPC_BASE + k] = base >>> 0;
    words[IS_VPC + (k >>> 5)]! |= 1 << (k & 31);
  }
}

/** connections the threads opened that a data plane has heard of and not seen close (one per data plane: the daemon's) */
export interface FastLoad {
  live: number;
}
