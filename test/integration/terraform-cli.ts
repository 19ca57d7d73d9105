// What the Terraform tests share (terraform.test.ts, terraform-extras.test.ts): whether Terraform
// and the AWS provider's filesystem mirror are on this machine, and a stack directory to run
// `terraform` in, offline from the mirror, with TF_LOG=DEBUG into a file and nothing from the
// caller's AWS environment; a TCP round trip from a simulated source address. Where either is
// missing the tests skip under a name that says why; CI=true makes them mandatory (.ci/run).
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterEach, describe, it } from 'vitest';
import { CONSUMER, PROVIDER } from '../helpers.js';

/** the provider's filesystem mirror: the directory holding registry.terraform.io/hashicorp/aws/<version>/<os_arch>/terraform-provider-aws_* */
function findMirror(): string | undefined {
  const r = spawnSync('find', ['/', '-xdev', '-name', 'terraform-provider-aws*', '-path', '*registry.terraform.io/hashicorp/aws/*'], { encoding: 'utf8', timeout: 60_000 });
  const binary = r.stdout.split('\n').find((l) => l.trim());
  // <mirror>/registry.terraform.io/hashicorp/aws/<version>/<os_arch>/<binary>
  return binary ? path.resolve(path.dirname(binary), '../../../../..') : undefined;
}

const HAVE_TERRAFORM = spawnSync('terraform', ['version'], { stdio: 'ignore' }).status === 0;
const MIRROR = HAVE_TERRAFORM ? findMirror() : undefined;
/** why the Terraform tests cannot run here; undefined when they can */
export const MISSING = !HAVE_TERRAFORM ? 'terraform is not on PATH' : !MIRROR ? 'no terraform-provider-aws in a filesystem mirror (find / -xdev)' : undefined;
/** whether the Terraform tests run: they can, or CI=true demands them (and then fail at once where they cannot) */
export const RUN = MISSING === undefined || process.env.CI === 'true';
export const SKIPPED = `skipped: ${MISSING} (install Terraform 1.11 and the AWS provider 5.100 mirror; CI=true makes this test mandatory)`;

/** where the Terraform tests cannot run: one skipped test under TITLE whose name says why */
export function skipWithoutTerraform(title: string): void {
  if (!RUN) describe(title, () => { it.skip(SKIPPED, () => {}); });
}

/** a terraform step's time limit, and a Terraform test's */
export const TF_STEP_MS = 300_000;

/**
 * After a failed test, the daemon's last log lines: an SDK call that fails between Terraform's
 * steps (a reset, an error) is explained by what vpcepd said, which the test would not show.
 */
export function daemonLogOnFailure(output: () => string): void {
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.log(`vpcepd's last log lines:\n${output().split('\n').slice(-80).join('\n')}`);
  });
}

/** the AWS keys the stacks sign with: the provider's and the consumer's account */
export const KEYS = {
  provider: { account_id: '111111111111', access_key_id: 'AKIATFPROVIDER000001', secret_access_key: 'tf-provider-secret-0123456789' },
  consumer: { account_id: '222222222222', access_key_id: 'AKIATFCONSUMER000002', secret_access_key: 'tf-consumer-secret-0123456789' },
};
/** the daemon config's accounts: the tests' provider and consumer, each with its AWS keys */
export const ACCOUNTS = [{ ...PROVIDER, aws: KEYS.provider }, { ...CONSUMER, aws: KEYS.consumer }];
/** the stacks' variables for both accounts' keys */
export const KEY_VARS = {
  provider_access_key: KEYS.provider.access_key_id, provider_secret_key: KEYS.provider.secret_access_key,
  consumer_access_key: KEYS.consumer.access_key_id, consumer_secret_key: KEYS.consumer.secret_access_key,
};

/** the SDK on the daemon at URL: each account's EC2 and the provider's ELBv2 (destroy() them after, or close() all three) */
export function sdkClients(url: string): { ec2: { provider: EC2Client; consumer: EC2Client }; elb: ElasticLoadBalancingV2Client; close(): void } {
  // A connection per call: between two calls a Terraform command runs for about the API's 10 s
  // keep-alive, and a call on a kept connection the daemon is closing meets "socket hang up"
  // (once in CI), which maxAttempts 1 does not retry.
  const requestHandler = { httpAgent: new http.Agent({ keepAlive: false }) };
  const client = (k: (typeof KEYS)[keyof typeof KEYS]) => ({
    endpoint: url, region: 'us-east-1', maxAttempts: 1, requestHandler, credentials: { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key },
  });
  const ec2 = { provider: new EC2Client(client(KEYS.provider)), consumer: new EC2Client(client(KEYS.consumer)) };
  const elb = new ElasticLoadBalancingV2Client(client(KEYS.provider));
  return { ec2, elb, close: () => { ec2.provider.destroy(); ec2.consumer.destroy(); elb.destroy(); } };
}

export interface TfRun { code: number; stdout: string; stderr: string; ms: number }

export const seconds = (r: { ms: number }): string => `${(r.ms / 1000).toFixed(1)} s`;

/** `terraform` in one stack directory; `failed` once a step did not end as expected (keep the directory then) */
export class TerraformDir {
  failed = false;
  readonly log: string;

  /** `daemonOutput`: the end of the vpcepd's output, shown with a failed step */
  constructor(readonly dir: string, private readonly stepMs: number, private readonly daemonOutput: () => string) {
    if (MISSING) throw new Error(`CI=true and ${MISSING}: .ci/run must provide Terraform 1.11 and the AWS provider 5.100 mirror`);
    this.log = path.join(dir, 'terraform-debug.log');
    fs.writeFileSync(path.join(dir, 'cli.tfrc'), `provider_installation {\n  filesystem_mirror {\n    path = ${JSON.stringify(MIRROR)}\n  }\n}\n`);
  }

  /** terraform <args> in the stack's directory, TF_LOG=DEBUG into `log`; nothing from the caller's AWS environment */
  run(args: string[]): Promise<TfRun> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '', HOME: this.dir,
      TF_CLI_CONFIG_FILE: path.join(this.dir, 'cli.tfrc'), TF_LOG: 'DEBUG', TF_LOG_PATH: this.log,
      TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1',
      // Go's collector at half the work (terraform and its provider processes inherit it): terraform.test.ts
      // took 87 against 100 s of CPU, most of it the AWS provider's schema, built by three processes per command
      GOGC: '200',
      AWS_CONFIG_FILE: path.join(this.dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: path.join(this.dir, 'none'),
    };
    const started = Date.now();
    return new Promise((resolve) => {
      execFile('terraform', [...args, '-no-color'], { cwd: this.dir, env, timeout: this.stepMs - 10_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      });
    });
  }

  /** `plan -detailed-exitcode` (with `extra` arguments) must find nothing to change: exit 0; its time is logged */
  async planFindsNothing(extra: string[] = []): Promise<void> {
    const r = await this.run(['plan', '-detailed-exitcode', '-input=false', ...extra]);
    this.expectCode(r, 0, ['plan -detailed-exitcode', ...extra].join(' '));
    console.log(`terraform plan ${extra.join(' ')} (no changes): ${seconds(r)}`.replace('  ', ' '));
  }

  /** a step's result must be `code`; else the end of its output and of the TF log, and the log is kept */
  expectCode(r: TfRun, code: number, what: string): void {
    if (r.code === code) return;
    this.failed = true;
    const log = this.log;
    const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-80).join('\n') : '(no TF log)';
    throw new Error(`terraform ${what} exited ${r.code}, expected ${code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}\n--- ${log} (kept), last 80 lines\n${tail}\n--- vpcepd\n${this.daemonOutput().slice(-3000)}`);
  }
}

/** connects from localAddress, sends `msg`, resolves with what comes back (or the socket's error) */
export function roundTrip(host: string, port: number, localAddress: string, msg: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress });
    let got = '';
    const done = (r: string) => { s.destroy(); resolve(r); };
    s.setTimeout(5_000, () => done(`timeout after ${JSON.stringify(got)}`));
    s.on('connect', () => s.write(msg));
    s.on('data', (b) => { got += String(b); if (got.length >= msg.length) done(got); });
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('close', () => done(got || 'closed'));
  });
}
