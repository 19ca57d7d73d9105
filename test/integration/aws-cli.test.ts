// The real aws CLI (botocore, Python: a client no one here wrote) against vpcepd on its one port,
// as the README's "The AWS API" tells a user to point it: --endpoint-url, credentials and region
// from the environment, no ~/.aws. CI installs Debian's awscli (.ci/run); elsewhere a missing aws
// skips these tests under a name that says why.
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, startTestDaemon, tempDir, twoAccountConfig, type TestDaemon } from '../helpers.js';

const run = promisify(execFile);
const HAVE_AWS = spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;
const RUN = HAVE_AWS || process.env.CI === 'true';

const KEY = { id: 'AKIACLIPROVIDER00001', secret: 'cli-provider-secret' };

/** `aws <args> --endpoint-url <url> --output json` with credentials and region in the environment only */
async function aws(url: string, args: string[], key: { id: string; secret: string }): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = tempDir('vpcep-aws-home-');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', HOME: home,
    AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret, AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: path.join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'none'),
    AWS_MAX_ATTEMPTS: '1', AWS_PAGER: '',
  };
  try {
    const r = await run('aws', [...args, '--endpoint-url', url, '--output', 'json'], { env, timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

if (!RUN) {
  describe('the aws CLI', () => {
    it.skip('skipped: the aws CLI is not on PATH (install awscli; CI=true makes this test mandatory)', () => {});
  });
}

describe.runIf(RUN)('the aws CLI, lenient (any credentials act as the first account)', () => {
  let d: TestDaemon;
  beforeAll(async () => { d = await startTestDaemon(); });
  afterAll(async () => { await d.stop(); });

  it('sts get-caller-identity', async () => {
    const r = await aws(d.url, ['sts', 'get-caller-identity'], { id: 'AKIAANYTHING', secret: 'anything' });
    expect(r.code, r.stderr).toBe(0);
    const id = d.daemon.control.awsIdOf('provider');
    expect(JSON.parse(r.stdout)).toEqual({ UserId: id, Account: id, Arn: `arn:aws:iam::${id}:root` });
  });

  it('ec2 describe-regions and describe-availability-zones', async () => {
    const key = { id: 'AKIAANYTHING', secret: 'anything' };
    const regions = await aws(d.url, ['ec2', 'describe-regions', '--all-regions'], key);
    expect(regions.code, regions.stderr).toBe(0);
    expect(JSON.parse(regions.stdout).Regions).toEqual([{ RegionName: 'us-east-1', Endpoint: 'ec2.us-east-1.amazonaws.com', OptInStatus: 'opt-in-not-required' }]);
    const zones = await aws(d.url, ['ec2', 'describe-availability-zones', '--filters', 'Name=zone-name,Values=us-east-1a,us-east-1c'], key);
    expect(zones.code, zones.stderr).toBe(0);
    expect(JSON.parse(zones.stdout).AvailabilityZones.map((z: { ZoneName: string; ZoneId: string }) => `${z.ZoneName} ${z.ZoneId}`))
      .toEqual(['us-east-1a use1-az1', 'us-east-1c use1-az3']);
  });

  it('--no-sign-request acts as the default account too', async () => {
    const r = await aws(d.url, ['ec2', 'describe-regions', '--no-sign-request'], { id: '', secret: '' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).Regions).toHaveLength(1);
  });

  it('--dry-run answers DryRunOperation', async () => {
    const r = await aws(d.url, ['ec2', 'describe-regions', '--dry-run'], { id: 'AKIAANYTHING', secret: 'anything' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('(DryRunOperation)');
  });
});

describe.runIf(RUN)('the aws CLI, verify (accounts[].aws keys configured)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon(twoAccountConfig({
      accounts: [{ ...PROVIDER, aws: { account_id: '111111111111', access_key_id: KEY.id, secret_access_key: KEY.secret } }, CONSUMER],
    }));
  });
  afterAll(async () => { await d.stop(); });

  it('the configured key is its account; a wrong secret and an unknown key are refused by code', async () => {
    const ok = await aws(d.url, ['sts', 'get-caller-identity'], KEY);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).Account).toBe('111111111111');
    const wrong = await aws(d.url, ['ec2', 'describe-regions'], { id: KEY.id, secret: 'not-the-secret' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('(SignatureDoesNotMatch)');
    const unknown = await aws(d.url, ['ec2', 'describe-availability-zones'], { id: 'AKIAUNKNOWN000000000', secret: 'whatever' });
    expect(unknown.stderr).toContain('(AuthFailure)');
    const sts = await aws(d.url, ['sts', 'get-caller-identity'], { id: 'AKIAUNKNOWN000000000', secret: 'whatever' });
    expect(sts.stderr).toContain('(InvalidClientTokenId)');
    const unsigned = await aws(d.url, ['ec2', 'describe-regions', '--no-sign-request'], { id: '', secret: '' });
    expect(unsigned.stderr).toContain('(MissingAuthenticationToken)');
  });
});
