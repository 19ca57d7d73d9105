// The rules of network ACLs (EC2's CreateNetworkAclEntry and friends; Terraform's aws_network_acl,
// aws_network_acl_rule, aws_default_network_acl): numbered rules per direction, 1-32766, the first
// match by number decides and rule 32767 (`*`) denies the rest. Pure: the control plane
// (src/control/network-acls.ts) applies them to stored ACLs; admission (src/model/admission.ts)
// enforces the TCP rules of both directions on interface endpoints (README "The network made through the EC2 API").
import { parseCidr } from '../net/cidr.js';
import { DomainError } from './errors.js';
import type { NetworkAcl, NetworkAclEntry } from './types.js';

/** AWS: rule numbers 1-32766; 32767 is the catch-all deny every ACL ends with */
export const MAX_RULE_NUMBER = 32766;
export const CATCH_ALL_RULE = 32767;

/** a VPC's default ACL as AWS makes it: allow all, both directions (then the catch-all deny) */
export const DEFAULT_ACL_ENTRIES: readonly NetworkAclEntry[] = [
  { rule_number: 100, egress: true, protocol: '-1', action: 'allow', cidr: '0.0.0.0/0' },
  { rule_number: 100, egress: false, protocol: '-1', action: 'allow', cidr: '0.0.0.0/0' },
];

/** the protocol names EC2 takes besides numbers */
const PROTOCOL_NUMBERS: Readonly<Record<string, string>> = { all: '-1', tcp: '6', udp: '17', icmp: '1' };

/** an entry as asked for: the numbers as given, checked by entryOf */
export interface NetworkAclEntryInput {
  readonly ruleNumber: number;
  readonly egress: boolean;
  readonly protocol: string;
  readonly action: string;
  readonly cidr: string | undefined;
  readonly ipv6Cidr?: string;
  readonly fromPort?: number;
  readonly toPort?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

function checkRuleNumber(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_RULE_NUMBER) {
    throw new DomainError('InvalidParameter', `Invalid value '${n}' for RuleNumber: rule numbers are 1-${MAX_RULE_NUMBER}`);
  }
}

function checkPort(what: string, n: number | undefined): number {
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new DomainError('InvalidParameter', `Invalid value '${n ?? ''}' for ${what}: a TCP or UDP rule needs PortRange.From and PortRange.To, 0-65535`);
  }
  return n;
}

/** the entry an input asks for: the protocol as its number, ports for TCP and UDP only, ICMP's type and code for ICMP only (EC2 ignores the rest) */
export function entryOf(i: NetworkAclEntryInput): NetworkAclEntry {
  checkRuleNumber(i.ruleNumber);
  if (i.ipv6Cidr !== undefined) throw new DomainError('InvalidParameter', 'Ipv6CidrBlock: vpcep-sim has no IPv6');
  const named = PROTOCOL_NUMBERS[i.protocol.toLowerCase()] ?? i.protocol;
  if (!/^(-1|\d{1,3})$/.test(named) || Number(named) > 255) throw new DomainError('InvalidParameter', `Invalid value '${i.protocol.slice(0, 40)}' for Protocol: -1, tcp, udp, icmp or a protocol number 0-255`);
  // `06` is 6
  const protocol = String(Number(named));
  if (i.action !== 'allow' && i.action !== 'deny') throw new DomainError('InvalidParameter', `Invalid value '${i.action.slice(0, 40)}' for RuleAction: allow or deny`);
  if (i.cidr === undefined) throw new DomainError('InvalidParameter', 'CidrBlock is required (vpcep-sim has no IPv6)');
  const cidr = parseCidr(i.cidr);
  if (!cidr.ok) throw new DomainError('InvalidParameter', `Invalid value '${i.cidr.slice(0, 40)}' for CidrBlock: ${cidr.reason}`);
  const base = { rule_number: i.ruleNumber, egress: i.egress, protocol, action: i.action, cidr: cidr.cidr.text } as const;
  if (protocol === '6' || protocol === '17') {
    const from = checkPort('PortRange.From', i.fromPort);
    const to = checkPort('PortRange.To', i.toPort);
    if (from > to) throw new DomainError('InvalidParameter', `PortRange.From ${from} is above PortRange.To ${to}`);
    return { ...base, from_port: from, to_port: to };
  }
  if (protocol === '1') return { ...base, icmp_type: i.icmpType ?? -1, icmp_code: i.icmpCode ?? -1 };
  return base;
}

const sameSlot = (a: { rule_number: number; egress: boolean }, number: number, egress: boolean) => a.rule_number === number && a.egress === egress;

const direction = (egress: boolean) => (egress ? 'egress' : 'ingress');

/** the ACL with ENTRY added (`create`: its number must be free in its direction) or put in place of the one of its number (`replace`: it must be there) */
export function putEntry(acl: NetworkAcl, entry: NetworkAclEntry, mode: 'create' | 'replace'): NetworkAcl {
  const there = acl.entries.some((e) => sameSlot(e, entry.rule_number, entry.egress));
  if (mode === 'create' && there) {
    throw new DomainError('NetworkAclEntryExists', `The network acl entry identified by ${entry.rule_number} already exists (${direction(entry.egress)} of ${acl.id})`);
  }
  if (mode === 'replace' && !there) throw entryNotFound(acl, entry.rule_number, entry.egress);
  const others = acl.entries.filter((e) => !sameSlot(e, entry.rule_number, entry.egress));
  return { ...acl, entries: sortEntries([...others, entry]) };
}

/** the ACL without its rule NUMBER of that direction (it must be there) */
export function removeEntry(acl: NetworkAcl, number: number, egress: boolean): NetworkAcl {
  if (!acl.entries.some((e) => sameSlot(e, number, egress))) throw entryNotFound(acl, number, egress);
  return { ...acl, entries: acl.entries.filter((e) => !sameSlot(e, number, egress)) };
}

function entryNotFound(acl: NetworkAcl, number: number, egress: boolean): DomainError {
  return new DomainError('NetworkAclEntryNotFound', `There is no ${direction(egress)} entry with rule number ${number} in network ACL ${acl.id}`);
}

/** egress first, then by number: the order EC2 lists them in */
function sortEntries(entries: NetworkAclEntry[]): NetworkAclEntry[] {
  return entries.sort((a, b) => Number(b.egress) - Number(a.egress) || a.rule_number - b.rule_number);
}
