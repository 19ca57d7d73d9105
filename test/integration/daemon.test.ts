// vpcepd as a real child process: start-up, the default account's token, refusals, SIGTERM.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DB_FILE } from '../../src/store/sqlite.js';
import { ApiClient, PROVIDER, spawnDaemon, tempDir, twoAccountConfig, waitFor, writeConfig, type ChildDaemon } from '../helpers.js';

const running: ChildDaemon[] = [];
async function start(args: string[], env: Record<string, string> = {}): Promise<ChildDaemon> {
  const d = await spawnDaemon(args, env);
  running.push(d);
  return d;
}
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.proc.exitCode === null && d.proc.signalCode === null) {
      d.proc.kill('SIGKILL');
      await d.exited;
    }
  }
});

/** the default account's project id, from the "vpcepd ready" line (which may reach the pipe after the API answers) */
async function projectOf(d: ChildDaemon): Promise<string> {
  const ready = await waitFor(() => d.output().split('\n').find((l) => l.includes('"vpcepd ready"')), 5_000, 'the "vpcepd ready" log line');
  return JSON.parse(ready).accounts[0].project_id;
}

/** the pids whose command line names TEXT */
function pidsNaming(text: string): number[] {
  return fs.readdirSync('/proc').filter((f) => /^\d+$/.test(f)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  }).map(Number);
}

describe('the tests\' child vpcepd', () => {
  it('one that does not answer within spawnDaemon\'s wait is killed, not left running after its test (a flow-logs test under load left one for good)', async () => {
    const data = path.join(tempDir(), 'data-never-waited-for');
    await expect(spawnDaemon(['--data-dir', data], {}, undefined, [], 1)).rejects.toThrow(/timed out waiting for vpcepd to answer/);
    await waitFor(() => pidsNaming(data).length === 0, 5_000, 'the child gone');
  });
});

describe('vpcepd process', () => {
  it('runs on embedded defaults: the default account, a token file of mode 0600, logged once', async () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    const d = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
    const tokenFile = path.join(data, 'token');
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(24);
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(d.output().split(token).length - 1).toBe(1);
    const versions = await (await fetch(`${d.url}/`)).json();
    expect(versions.versions[0]).toMatchObject({ id: 'v1', status: 'CURRENT' });
    const api = new ApiClient(d.url, token, await projectOf(d));
    const q = await api.get('/quotas');
    expect(q.status).toBe(200);
    expect(q.body.quotas.resources).toEqual([
      { type: 'endpoint_service', used: 0, quota: 20 },
      { type: 'endpoint', used: 0, quota: 50 },
    ]);
    // The embedded network has a port to publish.
    const svc = await api.post('/vpc-endpoint-services', { port_id: 'port-default', vpc_id: 'vpc-default', server_type: 'VM', ports: [{ client_port: 80, server_port: 8080 }] });
    expect(svc.status).toBe(200);

    // Restarted, it keeps the same token and project, and logs no token.
    d.proc.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    const again = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
    expect(again.output()).not.toContain(token);
    const api2 = new ApiClient(again.url, token, await projectOf(again));
    expect(api2.project).toBe(api.project);
    expect((await api2.get(`/vpc-endpoint-services/${svc.body.id}`)).status).toBe(200);
  });

  it('lets its JS thread sleep when idle: no timer wakes it 100 times a second', async () => {
    const d = await start(['--data-dir', path.join(tempDir(), 'data')]);
    // The voluntary switches of the process's main thread: each is a sleep in the event loop, and a
    // timer that fires ends one. prom-client's event-loop-lag sampler at its default 10 ms alone
    // made 100 a second; what is left idle is the health checker's 250 ms tick and slower timers
    // (18 a second measured on this machine).
    const pid = d.proc.pid!;
    const sleeps = () => Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))![1]);
    await new Promise((r) => setTimeout(r, 1_000)); // past the start-up's work
    const before = sleeps();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const perSecond = (sleeps() - before) / ((performance.now() - t0) / 1000);
    expect(perSecond).toBeLessThan(50);
    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    expect(metrics).toMatch(/^nodejs_eventloop_lag_p99_seconds \S+$/m);
    // the delay past the sampler's 100 ms period: an idle loop's median is well under it (Node's
    // histogram holds the period too: prom-client's gauges of it read 0.1 s idle)
    const p50 = Number(/^nodejs_eventloop_lag_p50_seconds (\S+)$/m.exec(metrics)![1]);
    expect(p50).toBeGreaterThanOrEqual(0);
    expect(p50).toBeLessThan(0.05);
  });

  it('takes the default token from VPCEP_TOKEN and settings from the environment', async () => {
    const dir = tempDir();
    const d = await start([], { VPCEP_TOKEN: 'from-the-env-123', VPCEP_DATA_DIR: path.join(dir, 'envdata') });
    expect(fs.existsSync(path.join(dir, 'envdata', DB_FILE))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'envdata', 'token'))).toBe(false);
    const api = new ApiClient(d.url, 'from-the-env-123', await projectOf(d));
    expect((await api.get('/quotas')).status).toBe(200);
  });

  it('stops on SIGTERM with exit 0 and logs it', async () => {
    const dir = tempDir();
    const d = await start(['--config', writeConfig(dir, twoAccountConfig()), '--data-dir', path.join(dir, 'data')]);
    d.proc.kill('SIGTERM');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    expect(d.output()).toContain('"msg":"stopped"');
  });

  it('refuses a bad config naming the file, the key path and why, and writes nothing', async () => {
    const dir = tempDir();
    const cfg = twoAccountConfig();
    (cfg.vpcs as any[])[0].subnets[0].cidr = '172.16.0.0/24';
    const file = writeConfig(dir, cfg);
    const d = await start(['--config', file, '--data-dir', path.join(dir, 'data')]);
    expect((await d.exited).code).toBe(1);
    expect(d.output()).toContain(`${file}: invalid configuration`);
    expect(d.output()).toMatch(/vpcs\[0\]\.subnets\[0\]\.cidr: 172\.16\.0\.0\/24 is outside its VPC 192\.168\.0\.0\/16/);
    expect(d.output()).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(dir, 'data', DB_FILE))).toBe(false);
  });

  it('a JSON config: runs on a good one; refuses a key given twice, naming it, its path and line (JSON.parse kept the last one)', async () => {
    const dir = tempDir();
    const good = await start(['--config', writeConfig(dir, twoAccountConfig({ dns: { ttl: 5 } }), 'config.json'), '--data-dir', path.join(dir, 'data')]);
    await waitFor(() => good.output().includes('"vpcepd ready"'), 5_000, 'the "vpcepd ready" log line');
    good.proc.kill('SIGTERM');
    expect((await good.exited).code).toBe(0);
    const file = path.join(dir, 'twice.json');
    fs.writeFileSync(file, '{"dns": {"ttl": 99999},\n "dns": {"ttl": 5}}');
    const d = await start(['--config', file, '--data-dir', path.join(dir, 'data2')]);
    expect((await d.exited).code).toBe(1);
    expect(d.output()).toContain(`${file}: invalid configuration: (top level): duplicate key "dns" at line 2, column 2`);
    expect(d.output()).not.toMatch(/\n\s+at /);
  });

  it('refuses an unreadable database with a clear error and leaves it untouched', async () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, DB_FILE), Buffer.alloc(8192, 7));
    const d = await start(['--data-dir', data], { VPCEP_TOKEN: 'tok-tok-tok' });
    expect((await d.exited).code).toBe(1);
    expect(d.output()).toMatch(/vpcep\.db: cannot open the database: .*move the file aside/);
    expect(fs.readFileSync(path.join(data, DB_FILE)).equals(Buffer.alloc(8192, 7))).toBe(true);
  });

  it('refuses at start-up to remove a VPC that endpoints still use', async () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    const file = writeConfig(dir, twoAccountConfig());
    const d = await start(['--config', file, '--data-dir', data]);
    const provider = new ApiClient(d.url, PROVIDER.token, PROVIDER.project_id);
    const svc = await provider.post('/vpc-endpoint-services', {
      port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', ports: [{ client_port: 80, server_port: 8080 }], approval_enabled: false,
    });
    expect(svc.status).toBe(200);
    const ep = await provider.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' });
    expect(ep.status, JSON.stringify(ep.body)).toBe(200);
    d.proc.kill('SIGTERM');
    await d.exited;

    const cfg = twoAccountConfig();
    cfg.vpcs = (cfg.vpcs as any[]).filter((v) => v.id !== 'vpc-provider-client');
    writeConfig(dir, cfg);
    const refused = await start(['--config', file, '--data-dir', data]);
    expect((await refused.exited).code).toBe(1);
    expect(refused.output()).toContain(`VPC vpc-provider-client is used by endpoint ${ep.body.id}`);
  });

  it('answers usage errors with exit 2', async () => {
    const d = await start(['--listen-on', 'x']).catch((e) => e);
    // spawnDaemon resolves once the process is gone as well as when it is ready
    expect((await (d as ChildDaemon).exited).code).toBe(2);
    expect((d as ChildDaemon).output()).toMatch(/usage: vpcepd/);
  });
});
