// The rules of network ACLs without sockets (src/model/network-acls.ts): what a rule asked for
// becomes, which inputs are refused by name, and the numbering per direction.
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/model/errors.js';
import { DEFAULT_ACL_ENTRIES, entryOf, putEntry, removeEntry, type NetworkAclEntryInput } from '../../src/model/network-acls.js';
import type { NetworkAcl } from '../../src/model/types.js';

const input = (over: Partial<NetworkAclEntryInput> = {}): NetworkAclEntryInput => ({ ruleNumber: 100, egress: false, protocol: '-1', action: 'allow', cidr: '0.0.0.0/0', ...over });
const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof DomainError) return e.name;
    throw e;
  }
  return 'none';
};
const acl: NetworkAcl = { id: 'acl-1', owner: 'a', vpc_id: 'vpc-1', default: true, entries: DEFAULT_ACL_ENTRIES, tags: [] };

describe('network ACL rules', () => {
  it('a rule keeps its protocol as the number, ports for TCP and UDP only, ICMP\'s type and code for ICMP only, its CIDR normalised', () => {
    expect(entryOf(input({ protocol: 'TCP', fromPort: 443, toPort: 443, cidr: '10.1.2.3/8' }))).toEqual({ rule_number: 100, egress: false, protocol: '6', action: 'allow', cidr: '10.0.0.0/8', from_port: 443, to_port: 443 });
    expect(entryOf(input({ protocol: 'icmp', icmpType: 8, fromPort: 1, toPort: 2 }))).toEqual({ rule_number: 100, egress: false, protocol: '1', action: 'allow', cidr: '0.0.0.0/0', icmp_type: 8, icmp_code: -1 });
    expect(entryOf(input({ protocol: '-1', fromPort: 0, toPort: 0 }))).toEqual({ rule_number: 100, egress: false, protocol: '-1', action: 'allow', cidr: '0.0.0.0/0' });
    expect(entryOf(input({ protocol: '050' })).protocol).toBe('50');
  });

  it('refuses what EC2 refuses, by name', () => {
    for (const bad of [
      input({ ruleNumber: 0 }), input({ ruleNumber: 32767 }), input({ protocol: '256' }), input({ protocol: 'sctp' }), input({ action: 'Allow' }),
      input({ cidr: undefined }), input({ cidr: '10.0.0.0/33' }), input({ ipv6Cidr: '::/0' }), input({ protocol: '17' }), input({ protocol: '6', fromPort: 90, toPort: 80 }),
      input({ protocol: '6', fromPort: 0, toPort: 65536 }),
    ]) expect(refusal(() => entryOf(bad)), JSON.stringify(bad)).toBe('InvalidParameter');
  });

  it('numbers are per direction: a duplicate is refused on create, a missing one on replace and delete; the list stays egress first, by number', () => {
    expect(refusal(() => putEntry(acl, entryOf(input()), 'create'))).toBe('NetworkAclEntryExists');
    expect(refusal(() => putEntry(acl, entryOf(input({ ruleNumber: 7 })), 'replace'))).toBe('NetworkAclEntryNotFound');
    expect(refusal(() => removeEntry(acl, 7, true))).toBe('NetworkAclEntryNotFound');
    const more = putEntry(putEntry(acl, entryOf(input({ ruleNumber: 50, action: 'deny' })), 'create'), entryOf(input({ egress: true, action: 'deny' })), 'replace');
    expect(more.entries.map((e) => [e.egress, e.rule_number, e.action])).toEqual([[true, 100, 'deny'], [false, 50, 'deny'], [false, 100, 'allow']]);
    expect(removeEntry(more, 100, false).entries.map((e) => [e.egress, e.rule_number])).toEqual([[true, 100], [false, 50]]);
    expect(acl.entries).toBe(DEFAULT_ACL_ENTRIES);
  });
});
