// Accounts with AWS identities (issue 12, "Accounts"): the config's accounts[].aws, the AWS account
// id generated once and kept, which account an access key stands for, and principals <-> whitelist.
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { applyInventory, InventoryError } from '../../src/control/inventory.js';
import {
  accountByAwsId, allowedPrincipalOf, awsAccountFor, awsIdentities, DEFAULT_AWS_ACCOUNT_ID, permissionOfPrincipal, permissionToRemove, principalOfPermission,
} from '../../src/model/aws-identity.js';
import { ConfigError, validateConfig } from '../../src/model/config.js';
import type { Account } from '../../src/model/types.js';
import type { Documents } from '../../src/store/store.js';
import { snapshotOf } from './snapshot.js';
import { memoryStore } from '../helpers.js';

const KEY_A = { access_key_id: 'AKIAAAAAAAAAAAAAAAAA', secret_access_key: 'secret-of-a-0123456789' };
const KEY_B = { access_key_id: 'AKIABBBBBBBBBBBBBBBB', secret_access_key: 'secret-of-b-0123456789' };

function problems(accounts: unknown[]): string[] {
  try {
    validateConfig({ accounts }, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  return [];
}


const opts = { defaultToken: 'default-token-0123', source: 'c.yaml', now: '2026-01-01T00:00:00.000Z' };
const inventory = (accounts: unknown[] | undefined, snap: Documents = snapshotOf([])) =>
  applyInventory(validateConfig(accounts ? { accounts } : undefined, 'c.yaml'), snap, opts);

describe('config: accounts[].aws', () => {
  it('accepts an account id, a key with its secret, each alone or together, and no aws at all', () => {
    const c = validateConfig({
      accounts: [
        { name: 'a', token: 'a-secret-token', aws: { account_id: '111111111111', ...KEY_A } },
        { name: 'b', token: 'b-secret-token', aws: KEY_B },
        { name: 'c', token: 'c-secret-token', aws: { account_id: '000000000042' } },
        { name: 'd', token: 'd-secret-token', aws: {} },
        { name: 'e', token: 'e-secret-token' },
      ],
    }, 'test.yaml');
    expect(c.accounts.map((a) => a.aws)).toEqual([
      { account_id: '111111111111', access_key: { id: KEY_A.access_key_id, secret: KEY_A.secret_access_key } },
      { account_id: undefined, access_key: { id: KEY_B.access_key_id, secret: KEY_B.secret_access_key } },
      { account_id: '000000000042' },
      { account_id: undefined },
      undefined,
    ]);
  });

  it.each([
    ['an account id of 11 digits', { account_id: '11111111111' }, /^accounts\[0\]\.aws\.account_id: must be 12 digits \(an AWS account id\)$/],
    ['an account id with a letter', { account_id: '11111111111a' }, /^accounts\[0\]\.aws\.account_id: must be 12 digits/],
    ['an account id as a YAML number', { account_id: 111111111111 }, /^accounts\[0\]\.aws\.account_id: must be 12 digits as a string: quote it \("111111111111"\)/],
    ['a lower-case access key id', { ...KEY_A, access_key_id: 'akiaaaaaaaaaaaaaaaaa' }, /^accounts\[0\]\.aws\.access_key_id: must be 16-128 characters of A-Z 0-9/],
    ['a short access key id', { ...KEY_A, access_key_id: 'AKIA1234' }, /^accounts\[0\]\.aws\.access_key_id: must be 16-128 characters/],
    ['an access key id over 128 characters', { ...KEY_A, access_key_id: 'A'.repeat(129) }, /^accounts\[0\]\.aws\.access_key_id: must be 16-128 characters/],
    ['a short secret', { ...KEY_A, secret_access_key: 'short' }, /^accounts\[0\]\.aws\.secret_access_key: must be at least 8 characters$/],
    ['a secret with a space', { ...KEY_A, secret_access_key: 'secret with space' }, /^accounts\[0\]\.aws\.secret_access_key: must not contain whitespace$/],
    ['a key without its secret', { access_key_id: KEY_A.access_key_id }, /^accounts\[0\]\.aws\.secret_access_key: missing: access_key_id and secret_access_key go together$/],
    ['a secret without its key', { secret_access_key: KEY_A.secret_access_key }, /^accounts\[0\]\.aws\.access_key_id: missing: access_key_id and secret_access_key go together$/],
    ['an unknown key (the list form of the reference proposal)', { access_keys: [] }, /^accounts\[0\]\.aws: unknown key "access_keys"$/],
  ])('refuses %s, naming the path', (_what, aws, message) => {
    const p = problems([{ name: 'a', token: 'a-secret-token', aws }]);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(message);
  });

  it('an account id or access key used by two accounts is refused naming both paths', () => {
    expect(problems([
      { name: 'a', token: 'a-secret-token', aws: { account_id: '111111111111', ...KEY_A } },
      { name: 'b', token: 'b-secret-token', aws: { account_id: '111111111111', ...KEY_A, secret_access_key: 'another-secret' } },
    ])).toEqual([
      'accounts[1].aws.account_id: duplicate AWS account_id "111111111111" (first at accounts[0].aws.account_id)',
      `accounts[1].aws.access_key_id: duplicate AWS access_key_id "${KEY_A.access_key_id}" (first at accounts[0].aws.access_key_id)`,
    ]);
  });
});

describe('the AWS account id: generated once and kept', () => {
  it('the embedded default account is 000000000000; no meta id is kept for it', () => {
    const inv = inventory(undefined);
    expect(inv.accounts.map((a) => [a.name, a.aws_account_id])).toEqual([['default', DEFAULT_AWS_ACCOUNT_ID]]);
    const ids = inv.changes.find((c) => c.kind === 'meta' && c.id === 'ids')!.value as Record<string, string>;
    expect(Object.keys(ids).filter((k) => k.includes('aws'))).toEqual([]);
  });

  it('an account without aws.account_id gets 12 digits, never 000000000000 nor another\'s, kept at the next start', () => {
    const accounts = [
      { name: 'a', token: 'a-secret-token' },
      { name: 'b', token: 'b-secret-token', aws: { account_id: '222222222222' } },
      { name: 'default', token: 'default-secret' },
    ];
    const first = inventory(accounts);
    const [a, b, d] = first.accounts;
    expect(a!.aws_account_id).toMatch(/^\d{12}$/);
    expect(b!.aws_account_id).toBe('222222222222');
    // a declared account named default is a declared account: generated like the others
    expect(d!.aws_account_id).toMatch(/^\d{12}$/);
    expect(new Set([a!.aws_account_id, d!.aws_account_id, '222222222222', DEFAULT_AWS_ACCOUNT_ID]).size).toBe(4);
    const second = inventory(accounts, snapshotOf(first.changes));
    expect(second.accounts.map((x) => x.aws_account_id)).toEqual(first.accounts.map((x) => x.aws_account_id));
  });

  it('the stored account document carries the AWS id, never the access key or the token', () => {
    const inv = inventory([{ name: 'a', token: 'a-secret-token', aws: KEY_A }]);
    const doc = snapshotOf(inv.changes).get('account')!.get('a') as Record<string, unknown>;
    expect(doc.aws_account_id).toBe(inv.accounts[0]!.aws_account_id);
    expect(JSON.stringify(doc)).not.toContain(KEY_A.secret_access_key);
    expect(JSON.stringify(doc)).not.toContain(KEY_A.access_key_id);
    expect(doc).not.toHaveProperty('token');
    expect(inv.accounts[0]!.aws_access_key).toEqual({ id: KEY_A.access_key_id, secret: KEY_A.secret_access_key });
  });

  it('a configured account_id wins over the kept one; removing it again brings the kept one back', () => {
    const generated = inventory([{ name: 'a', token: 'a-secret-token' }]);
    const kept = generated.accounts[0]!.aws_account_id;
    const configured = inventory([{ name: 'a', token: 'a-secret-token', aws: { account_id: '333333333333' } }], snapshotOf(generated.changes));
    expect(configured.accounts[0]!.aws_account_id).toBe('333333333333');
    const again = inventory([{ name: 'a', token: 'a-secret-token' }], snapshotOf(configured.changes, snapshotOf(generated.changes)));
    expect(again.accounts[0]!.aws_account_id).toBe(kept);
  });

  it('a data dir from before AWS ids (meta ids without them) gains one, kept from then on', () => {
    const accounts = [{ name: 'a', token: 'a-secret-token' }];
    const old = snapshotOf([
      { kind: 'meta', id: 'ids', value: { 'account:a:domain_id': 'd'.repeat(32), 'account:a:project_id': 'p'.repeat(32) } },
      { kind: 'account', id: 'a', value: { name: 'a', domain_id: 'd'.repeat(32), project_id: 'p'.repeat(32), quotas: { endpoint_service: 20, endpoint: 50, connections_per_endpoint: 3000 } } },
    ]);
    const first = inventory(accounts, old);
    expect(first.accounts[0]!.domain_id).toBe('d'.repeat(32));
    expect(first.accounts[0]!.aws_account_id).toMatch(/^\d{12}$/);
    const snap = snapshotOf(first.changes, old);
    expect((snap.get('account')!.get('a') as Account).aws_account_id).toBe(first.accounts[0]!.aws_account_id);
    expect(inventory(accounts, snap).accounts[0]!.aws_account_id).toBe(first.accounts[0]!.aws_account_id);
  });

  it('a configured account_id equal to another account\'s kept one is refused at start, naming both', () => {
    const first = inventory([{ name: 'a', token: 'a-secret-token' }, { name: 'b', token: 'b-secret-token' }]);
    const aId = first.accounts[0]!.aws_account_id;
    const next = [{ name: 'a', token: 'a-secret-token' }, { name: 'b', token: 'b-secret-token', aws: { account_id: aId } }];
    expect(() => inventory(next, snapshotOf(first.changes))).toThrow(InventoryError);
    expect(() => inventory(next, snapshotOf(first.changes)))
      .toThrow(`c.yaml: account a's AWS account id ${aId} (generated and kept) is configured for account b`);
  });
});

const account = (name: string, awsId: string, key?: { id: string; secret: string }): Account => ({
  name, domain_id: `dom${name}`, project_id: `prj${name}`, token: `tok-${name}`,
  quotas: { endpoint_service: 20, endpoint: 50, connections_per_endpoint: 3000, vpc: 5, dns_records: 1000 },
  aws_account_id: awsId, ...(key ? { aws_access_key: key } : {}),
});

describe('which account an access key stands for', () => {
  it('lenient (one account, no key configured): any key id, even empty, is that account, with no secret to check', () => {
    const ids = awsIdentities([account('first', '111111111111')]);
    expect(ids.mode).toBe('lenient');
    for (const key of ['AKIAANYTHING00000000', 'test', '222222222222', '']) {
      expect(awsAccountFor(ids, key)).toEqual({ account: expect.objectContaining({ name: 'first' }), secret: null });
    }
  });

  it('closed (several accounts, no key configured): no key is any account, the first included (it would be every tenant\'s way in)', () => {
    const ids = awsIdentities([account('first', '111111111111'), account('second', '222222222222')]);
    expect(ids.mode).toBe('closed');
    for (const key of ['AKIAANYTHING00000000', 'test', '222222222222', '']) expect(awsAccountFor(ids, key)).toBeNull();
  });

  it('verify (a key configured): a configured key is its account and secret; an unknown key, or an account without a key, is null', () => {
    const ids = awsIdentities([
      account('first', '111111111111'),
      account('keyed', '222222222222', { id: 'AKIAKEYED00000000000', secret: 'keyed-secret' }),
      account('other', '333333333333', { id: 'AKIAOTHER00000000000', secret: 'other-secret' }),
    ]);
    expect(ids.mode).toBe('verify');
    expect(awsAccountFor(ids, 'AKIAKEYED00000000000')).toEqual({ account: expect.objectContaining({ name: 'keyed' }), secret: 'keyed-secret' });
    expect(awsAccountFor(ids, 'AKIAOTHER00000000000')).toEqual({ account: expect.objectContaining({ name: 'other' }), secret: 'other-secret' });
    expect(awsAccountFor(ids, 'AKIAUNKNOWN000000000')).toBeNull();
    expect(awsAccountFor(ids, '111111111111')).toBeNull();
    expect(awsAccountFor(ids, '')).toBeNull();
  });

  it('the embedded defaults through the control plane: any credentials are the default account, 000000000000', () => {
    const control = controlOf(inventory(undefined));
    expect(control.accountByAccessKey('AKIAIOSFODNN7EXAMPLE')).toEqual({ account: expect.objectContaining({ name: 'default' }), secret: null });
    expect(control.accountByAwsId('000000000000')?.name).toBe('default');
    expect(control.awsIdOf('default')).toBe('000000000000');
    expect(control.awsIdOf('nobody')).toBe('');
  });

  it('configured keys through the control plane: verified, unknown refused', () => {
    const control = controlOf(inventory([
      { name: 'a', token: 'a-secret-token', aws: { account_id: '111111111111', ...KEY_A } },
      { name: 'b', token: 'b-secret-token', aws: KEY_B },
    ]));
    expect(control.accountByAccessKey(KEY_A.access_key_id)).toEqual({ account: expect.objectContaining({ name: 'a' }), secret: KEY_A.secret_access_key });
    expect(control.accountByAccessKey(KEY_B.access_key_id)?.account.name).toBe('b');
    expect(control.accountByAccessKey('AKIAIOSFODNN7EXAMPLE')).toBeNull();
    expect(control.accountByAwsId('111111111111')?.name).toBe('a');
    expect(control.accountByAwsId(control.awsIdOf('b'))?.name).toBe('b');
    expect(control.accountByAwsId('999999999999')).toBeUndefined();
  });
});

describe('principals <-> the service whitelist', () => {
  const ids = awsIdentities([account('a', '111111111111'), account('b', '000000000042')]);

  it('arn:aws:iam::<id>:root is the whitelist entry of the account with that AWS id, and back', () => {
    expect(permissionOfPrincipal(ids, 'arn:aws:iam::111111111111:root')).toBe('iam:domain::doma');
    expect(permissionOfPrincipal(ids, 'arn:aws:iam::000000000042:root')).toBe('iam:domain::domb');
    expect(principalOfPermission(ids, 'iam:domain::doma')).toBe('arn:aws:iam::111111111111:root');
    expect(principalOfPermission(ids, 'iam:domain::domb')).toBe('arn:aws:iam::000000000042:root');
    expect(accountByAwsId(ids, '000000000042')?.name).toBe('b');
  });

  it('* is * both ways', () => {
    expect(permissionOfPrincipal(ids, '*')).toBe('*');
    expect(principalOfPermission(ids, '*')).toBe('*');
  });

  it('a user or role ARN stands for its whole account (the data plane admits accounts, not IAM principals)', () => {
    expect(permissionOfPrincipal(ids, 'arn:aws:iam::111111111111:user/alice')).toBe('iam:domain::doma');
    expect(permissionOfPrincipal(ids, 'arn:aws:iam::111111111111:role/team/deployer')).toBe('iam:domain::doma');
    expect(principalOfPermission(ids, permissionOfPrincipal(ids, 'arn:aws:iam::111111111111:user/alice')!)).toBe('arn:aws:iam::111111111111:root');
  });

  it.each([
    ['an account id no account here has', 'arn:aws:iam::999999999999:root'],
    ['a bare account id', '111111111111'],
    ['another partition', 'arn:aws-cn:iam::111111111111:root'],
    ['an 11-digit id', 'arn:aws:iam::11111111111:root'],
    ['a group (not a principal)', 'arn:aws:iam::111111111111:group/admins'],
    ['a service principal', 'ec2.amazonaws.com'],
    ['an empty user name', 'arn:aws:iam::111111111111:user/'],
  ])('%s maps to no whitelist entry', (_what, principal) => {
    expect(permissionOfPrincipal(ids, principal)).toBeNull();
  });

  it.each([
    ['another domain', 'iam:domain::0123456789abcdef'],
    ['a wildcard pattern', 'iam:domain::dom*'],
    ['not a domain entry', 'doma'],
  ])('a whitelist entry naming %s has no AWS principal', (_what, permission) => {
    expect(principalOfPermission(ids, permission)).toBeNull();
  });
});

describe('the whitelist as AWS lists it and takes it back for removal', () => {
  const ids = awsIdentities([account('a', '111111111111')]);

  it('an entry admitting every account is *; one with no AWS spelling is listed as it is and removed so (were left out)', () => {
    expect(allowedPrincipalOf(ids, '*')).toBe('*');
    expect(allowedPrincipalOf(ids, 'iam:domain::*')).toBe('*');
    expect(allowedPrincipalOf(ids, 'iam:domain::**')).toBe('*');
    expect(allowedPrincipalOf(ids, 'iam:domain::doma')).toBe('arn:aws:iam::111111111111:root');
    expect(allowedPrincipalOf(ids, 'iam:domain::dom*')).toBe('iam:domain::dom*');
    expect(allowedPrincipalOf(ids, 'iam:domain::0123456789abcdef')).toBe('iam:domain::0123456789abcdef');
    expect(permissionToRemove(ids, 'iam:domain::dom*')).toBe('iam:domain::dom*');
    expect(permissionToRemove(ids, '*')).toBe('*');
    expect(permissionToRemove(ids, 'arn:aws:iam::111111111111:root')).toBe('iam:domain::doma');
    expect(permissionToRemove(ids, 'iam:domain::a-b')).toBeNull();
    expect(permissionToRemove(ids, 'arn:aws:iam::999999999999:root')).toBeNull();
  });
});

function controlOf(inv: ReturnType<typeof applyInventory>): ControlPlane {
  const store = memoryStore();
  const dataPlane = { apply: async () => ({ ok: true as const }), endpointConnections: () => 0, admissionOf: () => null, daemonLoad: () => ({ active: 0, maxConnections: 1, fdBudget: 100, listeners: 0, onPremises: 'allow' as const }), publicListening: () => false };
  return new ControlPlane({ region: 'sim-1', store, dataPlane, inventory: inv, services: [], endpoints: [], log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
}
