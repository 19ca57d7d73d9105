import { describe, expect, it } from 'vitest';
import { huaweiError } from '../../src/api/huawei/errors.js';
import { DomainError } from '../../src/model/errors.js';
import {
  allocatePrivateIp, applyTags, checkConnectionAction, fullServiceName, madeWithToken, mayConnect, normaliseWhitelist, sameRequest, validatePermission,
} from '../../src/model/rules.js';
import { cidrOf } from '../../src/net/cidr.js';
import type { Account, EndpointService } from '../../src/model/types.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomainError) return huaweiError(err).body.error_code;
    throw err;
  }
  return 'no error';
};

let accounts = 0;
const account = (name: string, domain: string): Account => ({
  name, domain_id: domain, project_id: `p-${name}`, token: `t-${name}`, aws_account_id: String(100_000_000_000 + ++accounts),
  quotas: { endpoint_service: 20, endpoint: 50, connections_per_endpoint: 3000, vpc: 5, dns_records: 1000 },
});
const service = (permissions: string[]): EndpointService => ({
  id: 's1', owner: 'alice', service_name: 'sim-1.s1', service_type: 'interface', server_type: 'VM', port_id: 'p', vpc_id: 'v',
  approval_enabled: true, status: 'available', ports: [], tcp_proxy: 'close', description: '', tags: [],
  permissions: permissions.map((p, i) => ({ id: String(i), permission: p, created_at: '' })), created_at: '', updated_at: '',
});

describe('whitelist of a service (permissions)', () => {
  it('accepts iam:domain::<id> and *, refuses anything else with EndPoint.3002', () => {
    expect(validatePermission('*')).toBe('*');
    expect(validatePermission('iam:domain::abc123')).toBe('iam:domain::abc123');
    for (const bad of ['', 'iam:domain::', 'iam:domain::a-b', 'domain::abc', `iam:domain::${'a'.repeat(65)}`]) {
      expect(code(() => validatePermission(bad))).toBe('EndPoint.3002');
    }
  });

  it('lets the owner, a listed domain, or anyone under * connect', () => {
    const bob = account('bob', 'b0b');
    expect(mayConnect(service([]), account('alice', 'a11'))).toBe(true);
    expect(mayConnect(service([]), bob)).toBe(false);
    expect(mayConnect(service(['iam:domain::b0b']), bob)).toBe(true);
    expect(mayConnect(service(['iam:domain::other']), bob)).toBe(false);
    expect(mayConnect(service(['*']), bob)).toBe(true);
  });
});

describe('private IP allocation', () => {
  const subnet = cidrOf('10.0.2.0/29');
  it('hands out .2 to .6 of a /29 and never network, gateway or broadcast', () => {
    const used = new Set<string>();
    for (let i = 0; i < 5; i++) used.add(allocatePrivateIp(subnet, used));
    expect([...used]).toEqual(['10.0.2.2', '10.0.2.3', '10.0.2.4', '10.0.2.5', '10.0.2.6']);
    expect(code(() => allocatePrivateIp(subnet, used))).toBe('EndPoint.2061');
  });
  it('honours port_ip and says why it cannot', () => {
    expect(allocatePrivateIp(subnet, new Set(), '10.0.2.5')).toBe('10.0.2.5');
    expect(code(() => allocatePrivateIp(subnet, new Set(), '10.0.2.0'))).toBe('EndPoint.2041');
    expect(code(() => allocatePrivateIp(subnet, new Set(), '10.0.2.1'))).toBe('EndPoint.2041');
    expect(code(() => allocatePrivateIp(subnet, new Set(), '10.0.2.7'))).toBe('EndPoint.2041');
    expect(code(() => allocatePrivateIp(subnet, new Set(), '10.0.3.2'))).toBe('EndPoint.2043');
    expect(code(() => allocatePrivateIp(subnet, new Set(), 'ten'))).toBe('EndPoint.2041');
    expect(code(() => allocatePrivateIp(subnet, new Set(['10.0.2.3']), '10.0.2.3'))).toBe('EndPoint.2042');
  });
});

describe('endpoint whitelist entries', () => {
  it('normalises bare addresses to /32, clears host bits and drops duplicates', () => {
    expect(normaliseWhitelist(['10.0.1.5', '10.0.1.5/32', '10.0.0.7/16'])).toEqual(['10.0.1.5/32', '10.0.0.0/16']);
  });
  it('refuses junk with EndPoint.2044', () => {
    expect(code(() => normaliseWhitelist(['10.0.1'])).toString()).toBe('EndPoint.2044');
    expect(code(() => normaliseWhitelist(['10.0.1.0/40']))).toBe('EndPoint.2044');
  });
});

describe('connection actions by status', () => {
  it.each([
    ['accept', 'pendingAcceptance', 'no error'],
    ['accept', 'rejected', 'no error'],
    ['accept', 'failed', 'no error'],
    ['accept', 'accepted', 'EndPoint.2014'],
    ['accept', 'creating', 'EndPoint.2019'],
    ['accept', 'deleting', 'EndPoint.2018'],
    ['reject', 'pendingAcceptance', 'no error'],
    ['reject', 'accepted', 'no error'],
    ['reject', 'creating', 'no error'],
    ['reject', 'rejected', 'EndPoint.3045'],
    ['reject', 'deleting', 'EndPoint.2018'],
  ] as const)('%s from %s -> %s', (action, status, expected) => {
    expect(code(() => checkConnectionAction(action, status))).toBe(expected);
  });
});

describe('names and tags', () => {
  it('builds <region>.<name>.<id>, or <region>.<id> without a name', () => {
    expect(fullServiceName('sim-1', 'web', 'abc')).toBe('sim-1.web.abc');
    expect(fullServiceName('sim-1', undefined, 'abc')).toBe('sim-1.abc');
  });
  it('creates, overwrites and deletes tags, within the limit', () => {
    let tags = applyTags([], 'create', [{ key: 'env', value: 'dev' }, { key: 'team' }], 20);
    tags = applyTags(tags, 'create', [{ key: 'env', value: 'prod' }], 20);
    expect(tags).toEqual([{ key: 'team', value: '' }, { key: 'env', value: 'prod' }]);
    expect(applyTags(tags, 'delete', [{ key: 'env' }], 20)).toEqual([{ key: 'team', value: '' }]);
    expect(code(() => applyTags(tags, 'create', [{ key: 'a' }, { key: 'a' }], 20))).toBe('EndPoint.3068');
    expect(code(() => applyTags(tags, 'create', [{ key: 'x' }], 2))).toBe('EndPoint.3067');
  });
});

describe('client tokens', () => {
  const made = [
    { id: 'a', owner: 'consumer', client_token: { token: 't1', digest: 'd1' } },
    { id: 'b', owner: 'provider', client_token: { token: 't1', digest: 'd2' } },
    { id: 'c', owner: 'consumer' },
  ];

  it('answer what the account made with the token, the same parameters; nothing for a token it did not use', () => {
    expect(madeWithToken(made, 'consumer', { token: 't1', digest: 'd1' })?.id).toBe('a');
    expect(madeWithToken(made, 'provider', { token: 't1', digest: 'd2' })?.id).toBe('b');
    expect(madeWithToken(made, 'consumer', { token: 't2', digest: 'd1' })).toBeUndefined();
    expect(sameRequest(undefined, { token: 't1', digest: 'd9' })).toBeUndefined();
  });

  it('refuse the same token with other parameters: IdempotencyMismatch', () => {
    expect(() => madeWithToken(made, 'consumer', { token: 't1', digest: 'd2' })).toThrow(expect.objectContaining({ name: 'IdempotencyMismatch' }));
  });
});
