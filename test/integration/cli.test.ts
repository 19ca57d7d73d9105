// The vpcep CLI as a real child process (the built bin/vpcep.js) against an in-process daemon.
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, ROOT, freePort, startTestDaemon, waitFor, type TestDaemon } from '../helpers.js';
import { TOXIC_ATTRIBUTES, TOXIC_TYPES } from '../../src/model/toxics.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/vpcep.js args...`; resolves with the exit code and output, whatever the code. */
function vpcep(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), ...args], {
      env: { ...process.env, VPCEP_URL: '', VPCEP_TOKEN: '', VPCEP_PROJECT: '', ...env },
      timeout: 15_000,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('vpcep CLI', () => {
  let d: TestDaemon;
  const as = (who: typeof PROVIDER) => (...args: string[]) => vpcep(['--url', d.url, '--token', who.token, '--project', who.project_id, ...args]);
  const provider = as(PROVIDER);
  const consumer = as(CONSUMER);
  /** runs a command that must succeed and returns its stdout */
  const ok = async (p: Promise<Run>): Promise<string> => {
    const r = await p;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => { d = await startTestDaemon(); });
  afterAll(async () => { await d.stop(); });

  it('runs the quick start: create, permit, connect, accept', async () => {
    const created = JSON.parse(await ok(provider('--json', 'service', 'create', '--port-id', 'port-web', '--vpc-id', 'vpc-app',
      '--server-type', 'VM', '--port', '80:8080', '--name', 'web', '--description', 'the web tier')));
    expect(created).toMatchObject({
      port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', approval_enabled: true, description: 'the web tier',
      ports: [{ client_port: 80, server_port: 8080, protocol: 'TCP' }],
    });
    const sid: string = created.id;
    expect(created.service_name).toBe(`sim-1.web.${sid}`);
    await waitFor(async () => JSON.parse(await ok(provider('--json', 'service', 'show', sid))).status === 'available', 5_000, 'service available');

    const table = await ok(provider('service', 'list'));
    expect(table).toContain('ID');
    expect(table).toContain('STATUS');
    expect(table).toContain(sid);
    expect(table).toContain('80:8080');
    expect(table).toContain('available');

    // not permitted yet: the API's refusal, exit 1
    const denied = await consumer('endpoint', 'create', '--service-id', sid, '--vpc-id', 'vpc-client', '--subnet-id', 'subnet-a');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^vpcep: EndPoint\.2012: /);

    expect(await ok(provider('service', 'permit', sid, CONSUMER.domain_id))).toContain(`iam:domain::${CONSUMER.domain_id}`);
    const perms = JSON.parse(await ok(provider('--json', 'service', 'permissions', sid)));
    expect(perms.permissions.map((p: { permission: string }) => p.permission)).toEqual([`iam:domain::${CONSUMER.domain_id}`]);

    const ep = JSON.parse(await ok(consumer('--json', 'endpoint', 'create', '--service-id', sid, '--vpc-id', 'vpc-client',
      '--subnet-id', 'subnet-a', '--whitelist', '10.0.0.0/8,192.168.1.0/24')));
    expect(ep).toMatchObject({ endpoint_service_id: sid, status: 'pendingAcceptance', ip: '10.0.1.2', host_ip: '127.2.1.2', vpc_id: 'vpc-client' });
    expect(ep.whitelist).toEqual(['10.0.0.0/8', '192.168.1.0/24']);
    const eid: string = ep.id;

    const conns = await ok(provider('service', 'connections', sid));
    expect(conns).toContain(eid);
    expect(conns).toContain('pendingAcceptance');
    expect(await ok(provider('service', 'accept', sid, eid))).toContain(`accepted endpoint ${eid}`);
    await waitFor(async () => JSON.parse(await ok(consumer('--json', 'endpoint', 'show', eid))).status === 'accepted', 5_000, 'endpoint accepted');

    const list = await ok(consumer('endpoint', 'list'));
    for (const s of ['ID', 'HOST_IP', 'MARKER_ID', eid, 'accepted', '10.0.1.2', '127.2.1.2', String(ep.marker_id)]) expect(list).toContain(s);
    const show = await ok(consumer('endpoint', 'show', eid));
    expect(show).toContain(eid);
    expect(show).toContain(sid);

    const wl = JSON.parse(await ok(consumer('--json', 'endpoint', 'whitelist', eid, '10.1.0.0/16', '--enable')));
    expect(wl).toMatchObject({ whitelist: ['10.1.0.0/16'], enable_whitelist: true });

    const quota = await ok(consumer('quota'));
    expect(quota).toMatch(/TYPE.*USED.*QUOTA/);
    expect(quota).toMatch(/endpoint\b.*\b1\b/);
    const q = JSON.parse(await ok(consumer('--json', 'quota')));
    expect(q.quotas.resources).toContainEqual(expect.objectContaining({ type: 'endpoint', used: 1 }));

    // a service in use cannot go; after the endpoint is deleted it can
    const inUse = await provider('service', 'delete', sid);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/^vpcep: EndPoint\.3006: /);
    expect(await ok(consumer('endpoint', 'delete', eid))).toContain(`deleted endpoint ${eid}`);
    expect(await ok(provider('service', 'delete', sid))).toContain(`deleted endpoint service ${sid}`);
  }, 90_000); // 18 CLI processes, each a Node start: under four test groups on 2 cores it once ran past 30 s

  it('modifies a service and permits * or full iam:domain:: strings as they are', async () => {
    const sid = JSON.parse(await ok(provider('--json', 'service', 'create', '--port-id', 'port-lb', '--vpc-id', 'vpc-app',
      '--server-type', 'LB', '--port', '443:8443', '--no-approval'))).id;
    const m = JSON.parse(await ok(provider('--json', 'service', 'modify', sid, '--approval', 'on', '--port', '81:8081', '--port', '82:8082')));
    expect(m.approval_enabled).toBe(true);
    expect(m.ports.map((p: { client_port: number }) => p.client_port)).toEqual([81, 82]);
    const added = JSON.parse(await ok(provider('--json', 'service', 'permit', sid, '*', 'iam:domain::abc')));
    expect(added.permissions).toEqual(['*', 'iam:domain::abc']);
    await ok(provider('service', 'unpermit', sid, '*'));
    const perms = JSON.parse(await ok(provider('--json', 'service', 'permissions', sid)));
    expect(perms.permissions.map((p: { permission: string }) => p.permission)).toEqual(['iam:domain::abc']);
  });

  it('reads its connection settings from the environment', async () => {
    const r = await vpcep(['--json', 'quota'], { VPCEP_URL: d.url, VPCEP_TOKEN: PROVIDER.token, VPCEP_PROJECT: PROVIDER.project_id });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).quotas.resources).toHaveLength(2);
  });

  it('an API error exits 1 with the EndPoint code on stderr', async () => {
    const r = await consumer('endpoint', 'show', 'no-such-endpoint');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^vpcep: EndPoint\.2006: .+\n$/);
  });

  it('a wrong token exits 1 with EndPoint.0003', async () => {
    const r = await vpcep(['--url', d.url, '--token', 'wrong', '--project', PROVIDER.project_id, 'service', 'list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^vpcep: EndPoint\.0003: /);
  });

  it('bad flag values are usage errors (exit 2) that send nothing', async () => {
    const before = (await d.provider.get('/vpc-endpoint-services')).body.total_count;
    const create = (port: string) => provider('service', 'create', '--port-id', 'port-web', '--vpc-id', 'vpc-app', '--server-type', 'VM', '--port', port);
    for (const port of ['abc', '80', '0:80', '80:70000']) {
      const r = await create(port);
      expect(r.code, port).toBe(2);
      expect(r.stderr).toContain('CLIENT:SERVER');
    }
    const badType = await provider('service', 'create', '--port-id', 'p', '--vpc-id', 'v', '--server-type', 'XX', '--port', '1:2');
    expect(badType.code).toBe(2);
    expect((await provider('service', 'list', '--limit', 'ten')).code).toBe(2);
    expect((await provider('service', 'modify', 'some-id')).code).toBe(2);
    expect((await provider('bogus')).code).toBe(2);
    // numbers and addresses the API would refuse are the CLI's usage errors too (they exited 1 with the API's EndPoint.0002)
    const trace = (...more: string[]) => consumer('trace', '--vpc-id', 'vpc-client', ...more);
    for (const [args, word] of [
      [['--source', '10.0.1.50', '--destination', '10.0.1.2', '--port', '99999'], 'expected a port from 1 to 65535'],
      [['--source', '10.0.1.50', '--destination', '10.0.1.2', '--port', '80', '--source-port', '70000'], 'expected a port from 0 to 65535'],
      [['--source', '1.2.3', '--destination', '10.0.1.2', '--port', '80'], 'expected an IPv4 address'],
    ] as const) {
      const r = await trace(...args);
      expect([r.code, r.stderr.includes(word)], args.join(' ')).toEqual([2, true]);
    }
    const badIp = await consumer('endpoint', 'create', '--service-id', 'some-service', '--vpc-id', 'vpc-client', '--subnet-id', 'subnet-a', '--port-ip', '10.0.1.256');
    expect([badIp.code, badIp.stderr.includes('expected an IPv4 address')]).toEqual([2, true]);
    const slow = await provider('service', 'bandwidth', 'some-service', 'some-endpoint', '50');
    expect([slow.code, slow.stderr.includes('expected Mbit/s (100-10240) or default')]).toEqual([2, true]);
    const badFrom = await vpcep(['resolve', 'x.example.com', '--from', 'nonsense']);
    expect([badFrom.code, badFrom.stderr.includes('expected an IPv4 address')]).toEqual([2, true]);
    expect((await d.provider.get('/vpc-endpoint-services')).body.total_count).toBe(before);
  });

  it('a --limit above 1000, a provisioning delay above 3600000 and a toxic attribute outside its README range are usage errors naming the range (they exited 1 with the API\'s refusal; a delay of 10 digits was "not a non-negative integer")', async () => {
    const toxicsBefore = (await d.provider.get('/sim/toxics')).body.toxics.length;
    for (const args of [['endpoint', 'list', '--limit', '1001'], ['service', 'permissions', 'some-service', '--limit', '1001'], ['service', 'list', '--limit', '99999']]) {
      const r = await provider(...args);
      expect([r.code, r.stdout, r.stderr.includes('expected an integer from 0 to 1000')], args.join(' ')).toEqual([2, '', true]);
    }
    for (const ms of ['3600001', '1000000000', '-1']) {
      const r = await provider('faults', 'delay', ms);
      expect([r.code, r.stdout, r.stderr.includes('expected an integer from 0 to 3600000')], ms).toEqual([2, '', true]);
    }
    expect(JSON.parse(await ok(consumer('--json', 'faults', 'show'))).faults.provisioning_delay_ms).toBe(0);
    // every attribute of every type, one past its ceiling (README "Fault injection"), and a negative one
    const bad: Array<[string, string, string]> = [['latency', 'latency=-5', '0-3600000']];
    for (const type of TOXIC_TYPES) {
      for (const [key, { max }] of Object.entries(TOXIC_ATTRIBUTES[type])) bad.push([type, `${key}=${max + 1}`, `0-${max}`]);
    }
    expect(bad.map(([type, a]) => `${type} ${a}`)).toEqual(expect.arrayContaining(['latency latency=3600001', 'latency jitter=3600001', 'bandwidth rate=10000001',
      'slow_close delay=3600001', 'timeout timeout=3600001', 'reset_peer timeout=3600001', 'slicer average_size=1048577', 'slicer size_variation=1048577',
      'slicer delay=60000001', `limit_data bytes=${2 ** 50 + 1}`]));
    bad.push(['slicer', 'size_variation=10', 'less than average_size'], ['latency', 'foo=1', 'unknown attribute']);
    const runs = await Promise.all(bad.map(([type, attribute]) => provider('toxics', 'add', '--scope', 'all', '--type', type, '--attribute', attribute,
      ...(type === 'slicer' && !attribute.startsWith('average_size') ? ['--attribute', 'average_size=10'] : []))));
    runs.forEach((r, i) => expect([r.code, r.stdout, r.stderr.includes(bad[i]![2])], bad[i]!.join(' ')).toEqual([2, '', true]));
    const badScope = await provider('toxics', 'add', '--scope', 'bogus', '--type', 'latency');
    expect([badScope.code, badScope.stderr.includes('scope must be')]).toEqual([2, true]);
    expect((await d.provider.get('/sim/toxics')).body.toxics.length).toBe(toxicsBefore);
  }, 60_000);

  it('vpcep help bogus says the command is unknown (it printed the whole help, exit 2, without a word); help with a command and subcommand shows its help', async () => {
    for (const args of [['help', 'bogus'], ['help', 'service', 'bogus'], ['service', 'help', 'bogus']]) {
      const r = await vpcep(args);
      expect([r.code, r.stdout, r.stderr.split('\n')[0]], args.join(' ')).toEqual([2, '', "error: unknown command 'bogus'"]);
    }
    expect(await ok(vpcep(['help']))).toMatch(/^Usage: vpcep \[options\] \[command\]/);
    expect(await ok(vpcep(['help', 'service', 'create']))).toMatch(/^Usage: vpcep service create /);
    expect(await ok(vpcep(['service', 'help', 'accept']))).toMatch(/^Usage: vpcep service accept /);
  });

  it('vpcep wait --timeout 0 is one check that waits for its answer as any call does (it gave the first fetch 0.1 s, which a fresh process on a loaded machine needs more than, and blamed the daemon)', async () => {
    const http = await import('node:http');
    const slow = http.createServer((_q, s) => { setTimeout(() => s.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}'), 400); });
    const silent = http.createServer(() => undefined);
    await Promise.all([slow, silent].map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))));
    const url = (srv: typeof slow) => `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      expect(await ok(vpcep(['--url', url(slow), 'wait', '--timeout', '0']))).toBe(`vpcepd at ${url(slow)} is ready\n`);
      expect(await ok(vpcep(['--url', d.url, 'wait', '--timeout', '0']))).toContain('is ready');
      const none = await vpcep(['--url', url(silent), 'wait', '--timeout', '0'], { VPCEP_CLI_TIMEOUT: '1' });
      expect([none.code, none.stderr]).toEqual([1, `vpcep: vpcepd at ${url(silent)} is not ready: no answer within 1 s\n`]);
    } finally {
      slow.close();
      silent.close();
      slow.closeAllConnections();
      silent.closeAllConnections();
    }
  });

  it('a peer that never answers, or closes without an answer: exit 1 with a message within the timeout (it waited forever, or exited 13 silent)', async () => {
    const net = await import('node:net');
    const silent = net.createServer(() => undefined);
    const closing = net.createServer((s) => s.destroy());
    await Promise.all([silent, closing].map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))));
    const url = (srv: typeof silent) => `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      const args = ['--token', PROVIDER.token, '--project', PROVIDER.project_id, 'service', 'list'];
      const hung = await vpcep(['--url', url(silent), ...args], { VPCEP_CLI_TIMEOUT: '1' });
      expect([hung.code, hung.stderr.trim()]).toEqual([1, `vpcep: cannot reach vpcepd at ${url(silent)}: no answer within 1 s (is the daemon running? see --url or VPCEP_URL)`]);
      const closed = await vpcep(['--url', url(closing), ...args], { VPCEP_CLI_TIMEOUT: '1' });
      expect(closed.code, closed.stderr).toBe(1);
      expect(closed.stderr).toMatch(/^vpcep: cannot reach vpcepd at /);
      const wait = await vpcep(['--url', url(closing), 'wait', '--timeout', '1']);
      expect(wait.code, wait.stderr).toBe(1);
      expect(wait.stderr).toMatch(/is not ready after 1 s/);
    } finally {
      silent.close();
      closing.close();
    }
  });

  it('a server that is not vpcepd (an HTML page, JSON of another shape) and a message with a newline or an escape: one line on stderr, exit 1 (the page went out over many lines; another shape was "unexpected error: Cannot read properties of undefined")', async () => {
    const http = await import('node:http');
    const page = '<!DOCTYPE html>\n<html>\n  <body>\n    <h1>Welcome to nginx!</h1>\n  </body>\n</html>\n';
    const servers = [
      http.createServer((_q, s) => s.writeHead(404, { 'content-type': 'text/html' }).end(page)),
      http.createServer((_q, s) => s.writeHead(200, { 'content-type': 'text/html' }).end(page)),
      http.createServer((_q, s) => s.writeHead(200, { 'content-type': 'application/json' }).end('{}')),
      http.createServer((_q, s) => s.writeHead(200, { 'content-type': 'application/json' }).end('null')),
    ];
    await Promise.all(servers.map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))));
    const url = (srv: typeof servers[0]) => `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      const runs = await Promise.all(servers.map((srv) => vpcep(['--url', url(srv), '--token', PROVIDER.token, '--project', PROVIDER.project_id, 'service', 'list'])));
      for (const r of runs) {
        expect(r.code, r.stderr).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(/^vpcep: [^\n]+\(is --url a vpcepd\?\)\n$/);
      }
      expect(runs[0]!.stderr).toBe(`vpcep: HTTP 404 Not Found from ${url(servers[0]!)}: <!DOCTYPE html> <html> <body> <h1>Welcome to nginx!</h1> </body> </html> (is --url a vpcepd?)\n`);
      expect(runs[2]!.stderr).toMatch(/^vpcep: the answer from http:\S+ is not the vpcepd API's \(/);
    } finally {
      for (const srv of servers) srv.close();
    }
    // vpcepd's own message quotes the id as given: a newline and a terminal escape are written, not obeyed
    const r = await consumer('endpoint', 'show', 'a\nb\u001b[31m');
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toBe('vpcep: EndPoint.2006: endpoint a\\nb\\u001b[31m does not exist\n');
  });

  it('vpcep wait with a --url that is not an http URL is a usage error at once, as for every other command (it polled until the timeout, then exit 1); an empty VPCEP_URL is named', async () => {
    for (const url of ['', 'not a url', 'ftp://127.0.0.1:21']) {
      const started = Date.now();
      const r = await vpcep(['--url', url, 'wait', '--timeout', '5']);
      expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `vpcep: invalid --url ${JSON.stringify(url)}: expected e.g. http://127.0.0.1:9480\n`]);
      expect(Date.now() - started).toBeLessThan(4_000);
      expect((await vpcep(['--url', url, '--project', 'p', 'quota'])).code).toBe(2);
    }
    const env = await vpcep(['--project', 'p', 'quota'], { VPCEP_URL: '' });
    expect([env.code, env.stderr]).toEqual([2, 'vpcep: invalid VPCEP_URL "": expected e.g. http://127.0.0.1:9480\n']);
  });

  it('a --url with user:password@ and a token with a newline or control character are usage errors before anything is sent (they read as an unreachable daemon)', async () => {
    const creds = await vpcep(['--url', d.url.replace('http://', 'http://user:pw@'), '--project', 'p', 'quota']);
    expect([creds.code, creds.stdout, creds.stderr]).toEqual([2, '', 'vpcep: invalid --url: it holds a user or password (user:password@); vpcepd\'s API takes its token by --token or VPCEP_TOKEN\n']);
    for (const token of ['abc\ndef', 'abc\u001bdef', 'ab\u00e9']) {
      const r = await vpcep(['--url', d.url, '--project', 'p', '--token', token, 'quota']);
      expect([r.code, r.stdout, r.stderr]).toEqual([2, '', 'vpcep: invalid --token (or VPCEP_TOKEN): it holds a newline, a control or a non-ASCII character\n']);
    }
  });

  it('a --url whose credentials the URL parser finds without // (http:/u:p@h), or with a query or a fragment, is a usage error (it was sent: "cannot reach vpcepd", the password echoed)', async () => {
    const hostPort = d.url.replace('http://', '');
    for (const url of [`http:/u:p@${hostPort}`, `http:\\\\u:p@${hostPort}`, `http:u:p@${hostPort}`, `http://:p@${hostPort}`]) {
      const r = await vpcep(['--url', url, '--project', 'p', 'quota']);
      expect([r.code, r.stdout, r.stderr], url).toEqual([2, '', 'vpcep: invalid --url: it holds a user or password (user:password@); vpcepd\'s API takes its token by --token or VPCEP_TOKEN\n']);
    }
    for (const url of [`${d.url}?x=1`, `${d.url}#x`, `${d.url}/?`]) {
      const r = await vpcep(['--url', d.url, '--project', 'p', 'wait', '--timeout', '0'], { VPCEP_URL: url });
      const flag = await vpcep(['--url', url, '--project', 'p', 'quota']);
      expect([flag.code, flag.stdout, flag.stderr], url).toEqual([2, '', `vpcep: invalid --url ${JSON.stringify(url)}: a query (?) or fragment (#) has no place in it; expected e.g. http://127.0.0.1:9480\n`]);
      expect(r.code, 'the flag wins over VPCEP_URL').toBe(0);
    }
  });

  it('a whitelist entry that is not an IPv4 address or CIDR is a usage error before any request (it was sent and refused as EndPoint.2044, exit 1)', async () => {
    for (const args of [['endpoint', 'create', '--service-id', 'x', '--vpc-id', 'vpc-client', '--subnet-id', 'subnet-a', '--whitelist', '10.0.0.1,10.0.0.300'], ['endpoint', 'whitelist', 'some-id', '10.0.0.0/8', '10.0.0.0/33']]) {
      const r = await consumer(...args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([2, '']);
      expect(r.stderr, args.join(' ')).toMatch(/expected IPv4 addresses or CIDRs \(e\.g\. 10\.0\.1\.0\/24\): "10\.0\.0\.300" is not an IPv4 address|prefix length "33" is not 0-32/);
    }
  });

  it('an empty id (a failed EP=$(vpcep -q ...)) is a usage error that sends nothing (it was answered "no such API")', async () => {
    for (const args of [['endpoint', 'show', ''], ['service', 'delete', ''], ['service', 'connections', ''], ['endpoint', 'add-subnets', '', 'subnet-a'], ['zone', 'down', '']]) {
      const r = await consumer(...args);
      expect([r.code, r.stdout, r.stderr], args.join(' ')).toEqual([2, '', 'vpcep: invalid id "": an id is not empty\n']);
    }
    // inside a toxic's scope or a proxy's name too (they were sent: EndPoint.0002, "endpoint :8081 does not exist")
    for (const args of [['toxics', 'remove', 'endpoint:', 'lat'], ['toxics', 'remove', 'port::80', 'x'], ['proxy', 'disable', ':8081'], ['proxy', 'enable', 'ep:0']]) {
      const r = await consumer(...args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([2, '']);
      expect(r.stderr, args.join(' ')).toMatch(/is invalid for argument '(scope|name)'/);
    }
  });

  it('vpcep resolve --timeout is kept to the second (the resolver waited about 1.9 s for 1 s); 0 is a usage error (it waited 2 s and said "no answer in 0 ms")', async () => {
    const silent = dgram.createSocket('udp4');
    let asked = 0;
    silent.on('message', () => { asked ||= Date.now(); });
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    try {
      const server = `127.0.0.1:${(silent.address()).port}`;
      const r = await vpcep(['resolve', 'x.example.com', '--server', server, '--timeout', '1']);
      const waited = Date.now() - asked;
      expect([r.code, r.stderr]).toEqual([1, `vpcep: DNS server ${server}: no answer in 1000 ms\n`]);
      expect(waited).toBeGreaterThanOrEqual(990);
      expect(waited).toBeLessThan(1_600);
      const zero = await vpcep(['resolve', 'x.example.com', '--server', server, '--timeout', '0']);
      expect([zero.code, zero.stderr]).toEqual([2, expect.stringContaining('expected whole seconds from 1 to 2147483')]);
    } finally {
      silent.close();
    }
  });

  it('timeouts beyond what a timer holds (24.8 days) are usage errors; the longest one works (they fired at once with TimeoutOverflowWarning, or threw RangeError); a VPCEP_CLI_TIMEOUT that is not seconds is named (it was ignored)', async () => {
    const wait = await vpcep(['--url', d.url, 'wait', '--timeout', '3000000']);
    expect([wait.code, wait.stderr]).toEqual([2, expect.stringContaining('expected whole seconds from 0 to 2147483')]);
    const resolve = await vpcep(['resolve', 'x.example.com', '--timeout', '3000000']);
    expect([resolve.code, resolve.stderr]).toEqual([2, expect.stringContaining('expected whole seconds from 1 to 2147483')]);
    expect(await ok(vpcep(['--url', d.url, 'wait', '--timeout', '2147483']))).toContain('is ready');
    expect(await ok(vpcep(['--url', d.url, '--token', PROVIDER.token, '--project', PROVIDER.project_id, 'quota'], { VPCEP_CLI_TIMEOUT: '2147483' }))).toContain('QUOTA');
    for (const bad of ['3000000', 'abc', '0']) {
      const r = await vpcep(['--url', d.url, '--token', PROVIDER.token, '--project', PROVIDER.project_id, 'quota'], { VPCEP_CLI_TIMEOUT: bad });
      expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `vpcep: invalid VPCEP_CLI_TIMEOUT "${bad}": expected seconds, more than 0 and at most 2147483\n`]);
    }
  });

  it('toxics add --toxicity takes a number from 0 to 1, else a usage error that sends nothing (an empty one added a toxic of toxicity 0, abc was refused as "not null")', async () => {
    const before = (await d.provider.get('/sim/toxics')).body.toxics.length;
    for (const bad of ['', ' ', 'abc', '1.5', '-0.5', '0x1', '1e-1']) {
      const r = await provider('toxics', 'add', '--scope', 'all', '--type', 'latency', '--attribute', 'latency=1', '--toxicity', bad);
      expect([r.code, r.stdout], JSON.stringify(bad)).toEqual([2, '']);
      expect(r.stderr).toContain('expected a number from 0 to 1');
    }
    expect((await d.provider.get('/sim/toxics')).body.toxics.length).toBe(before);
    for (const [given, toxicity] of [['0.25', 0.25], ['1', 1], ['0', 0], ['.5', 0.5]] as const) {
      const t = JSON.parse(await ok(provider('--json', 'toxics', 'add', '--scope', 'all', '--type', 'latency', '--attribute', 'latency=1', '--name', 'share', '--toxicity', given)));
      expect(t.toxicity, given).toBe(toxicity);
      await ok(provider('toxics', 'remove', 'all', 'share'));
    }
  });

  it('vpcep resolve: a bad --server or name is a usage error; a --from not of this host says so (it blamed the DNS server); NXDOMAIN goes to stderr (it was on stdout) and -q prints nothing', async () => {
    const server = `127.0.0.1:${d.daemon.dnsAddress!.port}`;
    const svc = (await d.provider.post('/vpc-endpoint-services', { port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', approval_enabled: false, ports: [{ client_port: 8003, server_port: 8080, protocol: 'TCP' }] })).body as { id: string };
    await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    const ep = (await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a', enable_dns: true })).body as { id: string; dns_names: string[] };
    const e = await waitFor(async () => {
      const b = (await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body as { status: string; host_ip: string };
      return b.status === 'accepted' ? b : null;
    }, 5_000, 'endpoint accepted');
    const client = e.host_ip.replace(/\.\d+$/, '.50'); // a client of the endpoint's subnet, in host form
    try {
      const found = await ok(vpcep(['resolve', ep.dns_names[0]!, '--from', client, '--server', server]));
      expect(found).toContain(e.host_ip);
      expect(await ok(vpcep(['-q', 'resolve', ep.dns_names[0]!, '--from', client, '--server', server]))).toBe('');
      const none = await vpcep(['resolve', ep.dns_names[0]!, '--server', server]);
      expect([none.code, none.stdout, none.stderr]).toEqual([1, '', `vpcep: ${ep.dns_names[0]}: NXDOMAIN (as seen from 127.0.0.1)\n`]);
      const json = await vpcep(['--json', 'resolve', ep.dns_names[0]!, '--server', server]);
      expect([json.code, JSON.parse(json.stdout).status, json.stderr]).toEqual([1, 'NXDOMAIN', '']);

      const notHere = await vpcep(['resolve', ep.dns_names[0]!, '--from', '10.0.1.50', '--server', server]);
      expect([notHere.code, notHere.stdout]).toEqual([2, '']);
      expect(notHere.stderr).toMatch(/^vpcep: --from 10\.0\.1\.50 is not an address of this host: .*127\.k\.1\.50/);
      for (const bad of ['bogus', '127.0.0.1:99999', 'localhost:5353', '']) {
        const r = await vpcep(['resolve', 'x.example.com', '--server', bad]);
        expect([r.code, r.stdout], bad).toEqual([2, '']);
        expect(r.stderr).toContain('expected HOST:PORT');
      }
      const fromEnv = await vpcep(['resolve', 'x.example.com'], { VPCEP_DNS: 'bogus' });
      expect([fromEnv.code, fromEnv.stderr]).toEqual([2, expect.stringContaining("from env 'VPCEP_DNS' is invalid")]);
      // 254 characters without the trailing dot; a space, a quote, a control character (they went to Node's resolver: "DNS server ...: EBADNAME", exit 1)
      const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
      for (const bad of ['', 'a..b', `${'a'.repeat(64)}.com`, `${'a.'.repeat(130)}com`, `${long}d`, 'a b.example', 'a"b.example', 'a\u0001b.example', 'a\tb.example', 'ü.example', '.']) {
        const r = await vpcep(['resolve', bad, '--server', server]);
        expect([r.code, r.stdout], bad).toEqual([2, '']);
        expect(r.stderr).toContain('expected a DNS name');
      }
      // 253 characters, and with the trailing dot: asked (NXDOMAIN)
      for (const name of [long, `${long}.`]) {
        const r = await vpcep(['resolve', name, '--server', server]);
        expect([r.code, r.stderr], name).toEqual([1, `vpcep: ${name}: NXDOMAIN (as seen from 127.0.0.1)\n`]);
      }
    } finally {
      await d.consumer.delete(`/vpc-endpoints/${ep.id}`);
    }
  });

  it('an id of . or .. is a usage error that sends nothing (URL parsing resolved it away: .. reached the parent path and was answered "no such API")', async () => {
    for (const args of [['endpoint', 'show', '..'], ['endpoint', 'delete', '..'], ['service', 'show', '.'], ['zone', 'down', '..']]) {
      const r = await consumer(...args);
      expect([r.code, r.stdout, r.stderr], args.join(' ')).toEqual([2, '', `vpcep: invalid id ${JSON.stringify(args[2])}: . and .. are not ids\n`]);
    }
    const project = await vpcep(['--url', d.url, '--token', CONSUMER.token, '--project', '..', 'quota']);
    expect([project.code, project.stderr]).toEqual([2, 'vpcep: invalid id "..": . and .. are not ids\n']);
    // a scope of .. is no scope: refused before it could reach a path
    expect((await consumer('toxics', 'remove', '..', 'x')).code).toBe(2);
    const dotted = await consumer('endpoint', 'show', '..x');
    expect(dotted.stderr).toMatch(/^vpcep: EndPoint\.2006: endpoint \.\.x does not exist/);
  });

  it('a missing project is a clear usage error', async () => {
    const r = await vpcep(['--url', d.url, '--token', PROVIDER.token, 'quota']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--project');
    expect(r.stderr).toContain('VPCEP_PROJECT');
  });

  it('--quiet prints only the new id on creates (no jq needed); endpoint show lists the ports it listens on', async () => {
    const sid = await ok(provider('--quiet', 'service', 'create', '--port-id', 'port-web', '--vpc-id', 'vpc-app',
      '--server-type', 'VM', '--port', '8001:8080', '--port', '8002:8081', '--no-approval'));
    expect(sid).toMatch(/^[0-9a-f-]{36}\n$/);
    const id = sid.trim();
    expect(await ok(provider('-q', 'service', 'permit', id, CONSUMER.domain_id))).toBe('');
    const eid = (await ok(consumer('-q', 'endpoint', 'create', '--service-id', id, '--vpc-id', 'vpc-client', '--subnet-id', 'subnet-b'))).trim();
    expect(eid).toMatch(/^[0-9a-f-]{36}$/);
    const e = await waitFor(async () => {
      const j = JSON.parse(await ok(consumer('--json', 'endpoint', 'show', eid)));
      return j.status === 'accepted' ? j : null;
    }, 5_000, 'endpoint accepted');
    expect(e.ports).toEqual([8001, 8002]);
    expect(await ok(consumer('endpoint', 'show', eid))).toMatch(/ports\s+│?\s*8001,8002/);
    await ok(consumer('endpoint', 'delete', eid));
  });

  it('vpc list shows the caller\'s VPCs only: subnets, ports and the loopback number k', async () => {
    const mine = JSON.parse(await ok(consumer('--json', 'vpc', 'list'))).vpcs;
    expect(mine).toEqual([{
      id: 'vpc-client', cidr: '10.0.0.0/16', number: mine[0].number, host_prefix: `127.${mine[0].number}`,
      subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24', zone: 'sim-1a' }, { id: 'subnet-b', cidr: '10.0.2.0/29', zone: 'sim-1a' }], ports: [],
    }]);
    const theirs = JSON.parse(await ok(provider('--json', 'vpc', 'list'))).vpcs;
    expect(theirs.map((v: { id: string }) => v.id).sort()).toEqual(['vpc-app', 'vpc-provider-client']);
    const app = theirs.find((v: { id: string }) => v.id === 'vpc-app');
    expect(app.ports).toContainEqual({ id: 'port-web', subnet_id: 'subnet-app', ip: '192.168.24.246', type: 'VM', host_ip: `127.${app.number}.24.246`, target: '127.0.0.1' });
    expect(app.ports).toContainEqual(expect.objectContaining({ id: 'port-lb', target: `127.${app.number}.24.10` }));
    const table = await ok(provider('vpc', 'list'));
    for (const s of ['VPC', 'vpc-app', '192.168.0.0/16', `127.${app.number}.c.d`, 'subnet-app 192.168.24.0/24 sim-1a', 'port-web 192.168.24.246 VM -> 127.0.0.1']) expect(table).toContain(s);
    expect(table).not.toContain('vpc-client');
  });

  it('zones, zone down and zone up: the region\'s zones and a simulated outage; an unknown zone exits 1 with EndPoint.0002', async () => {
    expect(JSON.parse(await ok(consumer('--json', 'zones'))).zones).toEqual([
      { zone: 'sim-1a', state: 'up' }, { zone: 'sim-1b', state: 'up' }, { zone: 'sim-1c', state: 'up' },
    ]);
    const down = await ok(provider('zone', 'down', 'sim-1b'));
    expect(down).toMatch(/ZONE\s+│\s+STATE/);
    expect(down).toMatch(/sim-1b\s+│\s+down/);
    expect(await ok(consumer('zones'))).toMatch(/sim-1b\s+│\s+down/);
    expect(await ok(provider('zone', 'up', 'sim-1b'))).toMatch(/sim-1b\s+│\s+up/);
    const bad = await provider('zone', 'down', 'sim-1q');
    expect([bad.code, bad.stdout]).toEqual([1, '']);
    expect(bad.stderr).toMatch(/EndPoint\.0002.*unknown zone "sim-1q"/);
    expect(JSON.parse(await ok(consumer('--json', 'zones'))).zones.every((z: { state: string }) => z.state === 'up')).toBe(true);
  });

  it('--version on vpcep and vpcepd; --help carries examples', async () => {
    const { version } = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')));
    expect(await ok(vpcep(['--version']))).toBe(`${version}\n`);
    const daemon = await new Promise<Run>((resolve) => execFile(process.execPath, [path.join(ROOT, 'bin/vpcepd.js'), '--version'], (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })));
    expect(daemon).toEqual({ code: 0, stdout: `vpcepd ${version}\n`, stderr: '' });
    expect(await ok(vpcep(['--help']))).toMatch(/Examples:\n.*vpcep wait/s);
    expect(await ok(vpcep(['service', 'create', '--help']))).toContain('SVC=$(vpcep -q service create');
    expect(await ok(vpcep(['endpoint', 'create', '--help']))).toContain('Examples:');
    // the README's "The CLI" names the commands whose --help shows examples: these two took guessing before
    expect(await ok(vpcep(['trace', '--help']))).toMatch(/Examples:\n.*vpcep trace --vpc-id vpc-client --source 10\.0\.1\.50/s);
    expect(await ok(vpcep(['toxics', 'add', '--help']))).toMatch(/Examples:\n.*vpcep toxics add --scope endpoint:\S+ --type latency --attribute latency=100/s);
  });

  it('an unreachable daemon exits 1 with a clear message, no stack trace', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await vpcep(['--url', url, '--token', PROVIDER.token, '--project', PROVIDER.project_id, 'service', 'list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`vpcep: cannot reach vpcepd at ${url}: ECONNREFUSED (is the daemon running? see --url or VPCEP_URL)\n`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('lists show every item, page by page (they stopped at the API\'s default page of 10 without a word); --limit and --offset give one page, connections and permissions too', async () => {
    const svc = (await d.provider.post('/vpc-endpoint-services', { port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', approval_enabled: false, ports: [{ client_port: 83, server_port: 8080, protocol: 'TCP' }] })).body;
    await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.status === 'available' || null, 5_000, 'service available');
    const others = Array.from({ length: 11 }, (_, i) => `dd${String(i).padStart(30, '0')}`);
    expect((await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [CONSUMER.domain_id, ...others].map((x) => `iam:domain::${x}`) })).status).toBe(200);
    const made: string[] = [];
    for (let i = 0; i < 12; i++) made.push((await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' })).body.id);
    const all = (await d.consumer.get('/vpc-endpoints?limit=1000')).body.total_count as number;
    expect(all).toBeGreaterThanOrEqual(12);
    const listed = JSON.parse(await ok(consumer('--json', 'endpoint', 'list')));
    expect([listed.endpoints.length, listed.total_count]).toEqual([all, all]);
    const rows = await ok(consumer('endpoint', 'list'));
    for (const id of made) expect(rows).toContain(id);
    expect(JSON.parse(await ok(consumer('--json', 'endpoint', 'list', '--limit', '5'))).endpoints).toHaveLength(5);
    const connections = await ok(provider('service', 'connections', svc.id));
    for (const id of made) expect(connections).toContain(id);
    const page = JSON.parse(await ok(provider('--json', 'service', 'connections', svc.id, '--limit', '4', '--offset', '10')));
    expect([page.connections.length, page.total_count]).toEqual([2, 12]);
    const permissions = JSON.parse(await ok(provider('--json', 'service', 'permissions', svc.id)));
    expect([permissions.permissions.length, permissions.total_count]).toEqual([12, 12]);
    expect(JSON.parse(await ok(provider('--json', 'service', 'permissions', svc.id, '--limit', '3'))).permissions).toHaveLength(3);
    for (const id of made) expect((await d.consumer.delete(`/vpc-endpoints/${id}`)).status).toBeLessThan(300);
  }, 60_000);

  it('a table cell\'s control characters are written as JSON writes them: a TXT record one account added to the shared zone does not drive another\'s terminal', async () => {
    const hostile = '\u001b]0;pwned\u0007\u001b[2J\u001b[31mhi\u009b2J';
    await ok(provider('dns', 'record', 'add', '_evil.example.net', hostile));
    const seen = await ok(consumer('dns', 'record', 'list'));
    // C1's CSI (U+009B) too: xterm obeys it in UTF-8
    expect(seen).toContain('\\u001b]0;pwned\\u0007\\u001b[2J\\u001b[31mhi\\u009b2J');
    for (const c of ['\u001b', '\u0007', '\u009b']) expect(seen).not.toContain(c);
    await ok(provider('dns', 'record', 'remove', '_evil.example.net'));
  });

  it('sets bandwidth (service default, per connection) and drives the provisioning faults', async () => {
    const created = JSON.parse(await ok(provider('--json', 'service', 'create', '--port-id', 'port-web', '--vpc-id', 'vpc-app',
      '--server-type', 'VM', '--port', '81:8080', '--name', 'bw', '--no-approval', '--bandwidth', '200')));
    expect(created.bandwidth).toBe(200);
    const sid: string = created.id;
    // the tables show it (they had no bandwidth row)
    expect(await ok(provider('service', 'show', sid))).toMatch(/bandwidth\s*│?\s*200 Mbit\/s/);
    await waitFor(async () => JSON.parse(await ok(provider('--json', 'service', 'show', sid))).status === 'available', 5_000, 'service available');
    // out of range: a usage error before any request (it was the API's EndPoint.0002, exit 1)
    for (const mbps of ['99', '10241']) {
      const bad = await provider('service', 'create', '--port-id', 'port-web', '--vpc-id', 'vpc-app', '--server-type', 'VM', '--port', '82:8080', '--bandwidth', mbps);
      expect([bad.code, bad.stderr.includes('expected Mbit/s (100-10240)')], mbps).toEqual([2, true]);
    }
    expect((await provider('service', 'modify', sid, '--bandwidth', 'fast')).code).toBe(2);
    await ok(provider('service', 'permit', sid, CONSUMER.domain_id));
    // the next activation fails: the endpoint ends failed; the next one is accepted
    expect(await ok(provider('faults', 'fail-next', sid, '--message', 'no capacity'))).toContain(sid);
    const failed: string = JSON.parse(await ok(consumer('--json', 'endpoint', 'create', '--service-id', sid, '--vpc-id', 'vpc-client', '--subnet-id', 'subnet-a'))).id;
    await waitFor(async () => JSON.parse(await ok(consumer('--json', 'endpoint', 'show', failed))).status === 'failed', 5_000, 'endpoint failed');
    const eid: string = JSON.parse(await ok(consumer('--json', 'endpoint', 'create', '--service-id', sid, '--vpc-id', 'vpc-client', '--subnet-id', 'subnet-a'))).id;
    await waitFor(async () => JSON.parse(await ok(consumer('--json', 'endpoint', 'show', eid))).status === 'accepted', 5_000, 'endpoint accepted');
    expect(await ok(provider('service', 'connections', sid))).toMatch(new RegExp(`${eid}.*200 \\(service\\)`));
    const set = JSON.parse(await ok(provider('--json', 'service', 'bandwidth', sid, eid, '150')));
    expect(set.connections[0]).toMatchObject({ id: eid, bandwidth: 150, bandwidth_source: 'connection' });
    expect(JSON.parse(await ok(provider('--json', 'service', 'bandwidth', sid, eid, 'default'))).connections[0].bandwidth).toBe(200);
    expect(await ok(provider('service', 'modify', sid, '--bandwidth', '300'))).toMatch(/bandwidth\s*│?\s*300 Mbit\/s/);
    expect(JSON.parse(await ok(provider('--json', 'service', 'modify', sid, '--bandwidth', 'none'))).bandwidth).toBeUndefined();
    expect(await ok(provider('service', 'show', sid))).toMatch(/bandwidth\s*│?\s*none \(no limit\)/);
    const shown = await ok(provider('service', 'create', '--port-id', 'port-web', '--vpc-id', 'vpc-app', '--server-type', 'VM', '--port', '84:8080', '--bandwidth', '100'));
    expect(shown).toMatch(/bandwidth\s*│?\s*100 Mbit\/s/);
    await ok(provider('service', 'delete', /│ id\s+│ (\S+)/.exec(shown)![1]!));
    expect(await ok(provider('faults', 'delay', '250'))).toMatch(/250/);
    expect(JSON.parse(await ok(consumer('--json', 'faults', 'show'))).faults).toEqual({ provisioning_delay_ms: 250, fail_next_activation: [] });
    await ok(provider('faults', 'delay', '0'));
  }, 90_000); // 21 CLI processes and more while polling: 16-21 s in a full run, past 30 s in CI beside other work
});

describe('vpcep CLI: its standard output', () => {
  /** runs vpcep with stdout on `out` (a descriptor, or 'closed': a pipe whose reader is gone before it writes; 'both': stderr's too) */
  function vpcepTo(out: number | 'closed' | 'both', args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), ...args], {
        stdio: ['ignore', typeof out === 'number' ? out : 'pipe', 'pipe'],
      });
      if (typeof out !== 'number') child.stdout?.destroy();
      if (out === 'both') child.stderr!.destroy();
      let stderr = '';
      child.stderr!.on('data', (d) => { stderr += d; });
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: '', stderr }));
    });
  }

  it('a reader gone early (vpcep --help | head -1): no EPIPE stack trace, exit 0 (commander\'s own writes crashed with EPIPE, exit 1)', async () => {
    for (const args of [['--help'], ['--version'], ['service', 'create', '--help']]) {
      const r = await vpcepTo('closed', args);
      expect([r.code, r.stderr], args.join(' ')).toEqual([0, '']);
    }
  });

  it('a usage error whose stderr reader is gone (vpcep bogus 2>&1 | head -1) still exits 2 (an uncaught EPIPE on stderr made it 1, at random)', async () => {
    for (let i = 0; i < 5; i++) {
      for (const args of [['bogus'], [], ['endpoint', 'show', '']]) {
        expect((await vpcepTo('both', args)).code, `${args.join(' ')} #${i}`).toBe(2);
      }
    }
  });

  it('output that cannot be written (a full disk) fails with exit 1 and says so (it exited 0, the output lost)', async () => {
    const full = fs.openSync('/dev/full', 'w');
    try {
      const r = await vpcepTo(full, ['--help']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('vpcep: cannot write the output: ENOSPC\n');
    } finally {
      fs.closeSync(full);
    }
  });
});
