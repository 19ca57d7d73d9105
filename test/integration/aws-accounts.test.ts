// Accounts' AWS ids across real restarts of vpcepd on one data dir (issue 12, "Accounts"): generated
// once and kept, a configured one wins at the next start, the embedded default account's is
// 000000000000, and a data dir written before AWS ids loads and gains them.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import {
  ApiClient, CONSUMER, PROVIDER, SERVICE_BODY, spawnDaemon, tempDir, twoAccountConfig, waitFor, writeConfig, type ChildDaemon,
} from '../helpers.js';

const running: ChildDaemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.proc.exitCode === null && d.proc.signalCode === null) {
      d.proc.kill('SIGKILL');
      await d.exited;
    }
  }
});

/** starts vpcepd, waits for its ready line and stops it; returns each account's aws_account_id by name, and the output */
async function startAndStop(args: string[], during?: (d: ChildDaemon) => Promise<void>): Promise<{ ids: Record<string, string>; output: string }> {
  const d = await spawnDaemon(args, { VPCEP_TOKEN: '' });
  running.push(d);
  const ready = await waitFor(() => d.output().split('\n').find((l) => l.includes('"vpcepd ready"')), 5_000, `the "vpcepd ready" log line\n${d.output()}`);
  await during?.(d);
  d.proc.kill('SIGTERM');
  expect((await d.exited).code, d.output()).toBe(0);
  const accounts = JSON.parse(ready).accounts as Array<{ name: string; aws_account_id: string }>;
  return { ids: Object.fromEntries(accounts.map((a) => [a.name, a.aws_account_id])), output: d.output() };
}

async function storedAccounts(data: string): Promise<{ accounts: Map<string, any>; ids: Record<string, string> }> {
  const store = SqliteStore.open(data);
  try {
    const snap = await store.load();
    return { accounts: snap.documents.get('account') as Map<string, any>, ids: snap.documents.get('meta')!.get('ids') as Record<string, string> };
  } finally {
    await store.close();
  }
}

describe('AWS account ids across restarts', () => {
  it('the embedded default account is 000000000000, at every start', async () => {
    const data = path.join(tempDir(), 'data');
    expect((await startAndStop(['--data-dir', data])).ids).toEqual({ default: '000000000000' });
    expect((await startAndStop(['--data-dir', data])).ids).toEqual({ default: '000000000000' });
    expect((await storedAccounts(data)).accounts.get('default').aws_account_id).toBe('000000000000');
  });

  it('generated once and kept; a configured account_id wins at the next start and the account keeps its resources', async () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    const generated = writeConfig(dir, twoAccountConfig(), 'generated.yaml');
    let serviceId = '';
    const first = await startAndStop(['--config', generated, '--data-dir', data], async (d) => {
      const r = await new ApiClient(d.url, PROVIDER.token, PROVIDER.project_id).post('/vpc-endpoint-services', SERVICE_BODY);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      serviceId = r.body.id;
    });
    expect(first.ids.provider).toMatch(/^\d{12}$/);
    expect(first.ids.consumer).toMatch(/^\d{12}$/);
    expect(new Set([first.ids.provider, first.ids.consumer, '000000000000']).size).toBe(3);
    const stored = await storedAccounts(data);
    expect(stored.accounts.get('provider').aws_account_id).toBe(first.ids.provider);
    expect(stored.ids['account:provider:aws_account_id']).toBe(first.ids.provider);

    expect((await startAndStop(['--config', generated, '--data-dir', data])).ids).toEqual(first.ids);

    // The provider is given its own id and an access key; the consumer keeps its generated one.
    const secret = 'provider-aws-secret-0123456789';
    const configured = writeConfig(dir, twoAccountConfig({
      accounts: [{ ...PROVIDER, aws: { account_id: '111111111111', access_key_id: 'AKIAPROVIDER00000000', secret_access_key: secret } }, CONSUMER],
    }), 'configured.yaml');
    const third = await startAndStop(['--config', configured, '--data-dir', data], async (d) => {
      // Resources belong to the account by name: nothing moves with its AWS id.
      const r = await new ApiClient(d.url, PROVIDER.token, PROVIDER.project_id).get(`/vpc-endpoint-services/${serviceId}`);
      expect(r.status).toBe(200);
    });
    expect(third.ids).toEqual({ provider: '111111111111', consumer: first.ids.consumer });
    expect(third.output).not.toContain(secret);
    const after = await storedAccounts(data);
    expect(after.accounts.get('provider').aws_account_id).toBe('111111111111');
    expect(JSON.stringify([...after.accounts.values()])).not.toContain(secret);
  });

  it('a data dir written before AWS ids (account documents without one) loads, and each account gains one, kept', async () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    // What main wrote for a configured account: its ids in the meta ids, its document without an AWS id.
    fs.mkdirSync(data);
    const old = SqliteStore.open(data);
    const doc = { name: 'provider', domain_id: PROVIDER.domain_id, project_id: PROVIDER.project_id, quotas: { endpoint_service: 20, endpoint: 50, connections_per_endpoint: 3000 } };
    await old.commit([
      { kind: 'meta', id: 'ids', value: { 'account:consumer:domain_id': CONSUMER.domain_id } },
      { kind: 'meta', id: 'vpc_numbers', value: {} },
      { kind: 'account', id: 'provider', value: doc },
      { kind: 'account', id: 'consumer', value: { ...doc, name: 'consumer', domain_id: CONSUMER.domain_id, project_id: CONSUMER.project_id } },
    ]);
    await old.close();
    const config = writeConfig(dir, { accounts: [{ name: 'provider', token: PROVIDER.token }, { name: 'consumer', token: CONSUMER.token }] });

    const first = await startAndStop(['--config', config, '--data-dir', data]);
    expect(first.ids.provider).toMatch(/^\d{12}$/);
    expect(first.ids.consumer).toMatch(/^\d{12}$/);
    expect(first.ids.provider).not.toBe(first.ids.consumer);
    const stored = await storedAccounts(data);
    expect(stored.accounts.get('consumer')).toMatchObject({ domain_id: CONSUMER.domain_id, aws_account_id: first.ids.consumer });
    expect(stored.ids['account:consumer:domain_id']).toBe(CONSUMER.domain_id);
    expect((await startAndStop(['--config', config, '--data-dir', data])).ids).toEqual(first.ids);
  });
});
