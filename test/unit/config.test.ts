import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMap, isSeq, parse, parseDocument, type Node } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { configKeyPaths, configNumberRanges, ConfigError, validateConfig } from '../../src/model/config.js';

const base = () => ({
  accounts: [{ name: 'provider', token: 'provider-secret' }],
  vpcs: [{
    id: 'vpc-app', account: 'provider', cidr: '192.168.0.0/16',
    subnets: [{ id: 'subnet-app', cidr: '192.168.24.0/24' }],
    ports: [{ id: 'port-web', subnet: 'subnet-app', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' }],
    route_tables: [{ id: 'rtb-app', default: true, subnets: ['subnet-app'], routes: [{ destination: '0.0.0.0/0', type: 'igw' }] }],
  }],
});

function problems(doc: unknown): string[] {
  try {
    validateConfig(doc, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^test\.yaml: invalid configuration/);
    return [...(err as ConfigError).problems];
  }
  return [];
}

function mutate(fn: (c: any) => void): unknown {
  const c = base();
  fn(c);
  return c;
}

describe('public services with backends in zones', () => {
  it('keeps the one-target shorthand (no zone) and takes a backend list, each in its zone', () => {
    const c = validateConfig(mutate((x) => {
      x.public_services = [{ name: 'kv', service_type: 'interface', ports: [
        { port: 80, target: '127.0.0.1:8080' },
        { port: 81, backends: [{ target: '127.0.0.1:8081', zone: 'sim-1a' }, { target: '127.0.0.2:8081', zone: 'sim-1b' }] },
        { port: 82, backends: [{ target: '127.0.0.1:8082' }, { target: '127.0.0.2:8082' }] },
      ] }];
      x.dataplane = { unhealthy_connection_termination: { enabled: false, draining_interval: 30 } };
    }), 'test.yaml');
    expect(c.public_services[0]!.ports).toEqual([
      { port: 80, target: '127.0.0.1:8080' },
      { port: 81, target: '127.0.0.1:8081', backends: [{ target: '127.0.0.1:8081', zone: 'sim-1a' }, { target: '127.0.0.2:8081', zone: 'sim-1b' }] },
      { port: 82, target: '127.0.0.1:8082', backends: [{ target: '127.0.0.1:8082', zone: null }, { target: '127.0.0.2:8082', zone: null }] },
    ]);
    expect(c.dataplane.unhealthyTermination).toEqual({ enabled: false, draining_interval_s: 30 });
    expect(validateConfig(base(), 'test.yaml').dataplane.unhealthyTermination).toEqual({ enabled: true, draining_interval_s: 0 });
  });
});

describe('config validation', () => {
  it('accepts the README\'s config reference as written', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /## Config reference\n\n```yaml\n([\s\S]*?)\n```/.exec(readme);
    expect(block, 'the README has a "## Config reference" section opening with a yaml block').not.toBeNull();
    const c = validateConfig(parse(block![1]!), 'README.md');
    expect(c.accounts.length).toBeGreaterThan(0);
    expect(c.dataplane.snatPorts).toEqual({ low: 1024, high: 65535 });
  });

  it('the README\'s config reference names every key the loader accepts, and no other', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /## Config reference\n\n```yaml\n([\s\S]*?)\n```/.exec(readme)![1]!;
    const documented = new Set<string>();
    const walk = (v: unknown, at: string): void => {
      if (Array.isArray(v)) { for (const x of v) walk(x, `${at}[]`); return; }
      if (v === null || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) {
        const path = at === '' ? k : `${at}.${k}`;
        documented.add(path);
        walk(x, path);
      }
    };
    walk(parse(block), '');
    const accepted = configKeyPaths();
    expect(accepted.filter((k) => !documented.has(k)), 'accepted, not in the reference').toEqual([]);
    expect([...documented].filter((k) => !accepted.includes(k)), 'in the reference, not accepted').toEqual([]);
  });

  it('the README\'s config reference states the range of every number key the loader bounds (a value outside stops the start)', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /## Config reference\n\n```yaml\n([\s\S]*?)\n```/.exec(readme)![1]!;
    const doc = parseDocument(block);
    /** the comments on the key's line: its value's, else (a key of an inline mapping) the mapping's */
    const comment = (path: string): string => {
      let node: Node | null = doc.contents as Node;
      const seen: string[] = [];
      for (const seg of path.split('.')) {
        for (const part of seg.split('[]').slice(0, seg.endsWith('[]') ? -1 : undefined)) {
          node = isMap(node) ? node.get(part, true) as Node : null;
          if (node?.comment) seen.push(node.comment);
        }
        if (seg.endsWith('[]')) node = isSeq(node) ? node.items[0] as Node : null;
      }
      return seen.at(-1) ?? '';
    };
    const missing = configNumberRanges().filter(({ path, min, max }) => !comment(path).includes(`${min}-${max}`));
    expect(missing).toEqual([]);
  });

  it('accepts a small config and fills in defaults', () => {
    const c = validateConfig(base(), 'test.yaml');
    expect(c.region).toBe('sim-1');
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 9480 });
    expect(c.dataplane.snat).toBe('auto');
    expect(c.accounts[0]!.quotas).toEqual({ endpoint_service: 20, endpoint: 50, connections_per_endpoint: 3000, vpc: 5, dns_records: 1000 });
  });

  it('dataplane.on_premises: allow by default, deny accepted, anything else refused naming the values', () => {
    expect(validateConfig(base(), 'test.yaml').dataplane.onPremises).toBe('allow');
    expect(validateConfig(mutate((c) => { c.dataplane = { on_premises: 'deny' }; }), 'test.yaml').dataplane.onPremises).toBe('deny');
    expect(problems(mutate((c) => { c.dataplane = { on_premises: 'block' }; }))).toEqual([expect.stringMatching(/^dataplane\.on_premises: must be allow or deny/)]);
  });

  it('two VPCs of one account with one CIDR are kept apart by their ids; an empty metrics or AWS secret is only too short', () => {
    expect(validateConfig(mutate((c) => {
      c.vpcs = [{ id: 'a', account: 'provider', cidr: '10.0.0.0/16' }, { account: 'provider', cidr: '10.0.0.0/16' }];
    }), 'test.yaml').vpcs).toHaveLength(2);
    // an empty string has no spaces: "must not contain spaces" was reported beside the true reason
    expect(problems(mutate((c) => { c.metrics = { token: '' }; }))).toEqual(['metrics.token: must be at least 16 characters']);
    expect(problems(mutate((c) => { c.accounts[0].aws = { access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: '' }; })))
      .toEqual(['accounts[0].aws.secret_access_key: must be at least 8 characters']);
  });

  it('dns.forwarders null is the host\'s resolvers, as absent (GET /sim/config shows it so; saved as a config file, the start refused it)', () => {
    const c = validateConfig({ ...base(), dns: { forwarders: null } }, 'test.yaml');
    expect(c.dns.forwarders ?? null).toBeNull();
  });

  it('accepts an empty document (the default account, no network)', () => {
    expect(validateConfig(null, 'x').accounts).toEqual([]);
  });

  it.each<[string, (c: any) => void, RegExp]>([
    ['an unknown top-level key', (c: any) => { c.regoin = 'x'; }, /^\(top level\): unknown key "regoin" \(did you mean "region"\?\) \(known keys: region, listen, /],
    ['an unknown nested key', (c: any) => { c.vpcs[0].subnets[0].az = 'a'; }, /^vpcs\[0\]\.subnets\[0\]: unknown key "az"$/],
    ['a mistyped nested key', (c: any) => { c.vpcs[0].subnets[0].zon = 'a'; }, /^vpcs\[0\]\.subnets\[0\]: unknown key "zon" \(did you mean "zone"\?\)$/],
    ['a mistyped key two levels down', (c: any) => { c.dataplane = { health_check: { intervall: 5 } }; }, /^dataplane\.health_check: unknown key "intervall" \(did you mean "interval"\?\)$/],
    ['an unknown zone of a subnet', (c: any) => { c.vpcs[0].subnets[0].zone = 'sim-1q'; }, /^vpcs\[0\]\.subnets\[0\]\.zone: unknown zone "sim-1q": the region's zones are sim-1a, sim-1b, sim-1c/],
    ['a zone of another region', (c: any) => { c.zones = ['sim-1a', 'us-east-1b']; }, /^zones: "us-east-1b" is not a zone of region sim-1/],
    ['a zone named twice', (c: any) => { c.zones = ['sim-1a', 'sim-1a']; }, /^zones: duplicate zone "sim-1a"/],
    ['no zone', (c: any) => { c.zones = []; }, /^zones: between 1 and 26 zones, got 0/],
    ['a bad CIDR', (c: any) => { c.vpcs[0].cidr = '192.168.300.0/16'; }, /^vpcs\[0\]\.cidr: .*not an IPv4 address/],
    ['a CIDR with host bits', (c: any) => { c.vpcs[0].cidr = '192.168.1.0/16'; }, /^vpcs\[0\]\.cidr: .*host bits set/],
    ['a VPC wider than /16', (c: any) => { c.vpcs[0].cidr = '10.0.0.0/8'; c.vpcs[0].subnets = []; c.vpcs[0].ports = []; c.vpcs[0].route_tables = []; }, /^vpcs\[0\]\.cidr: .*wider than \/16/],
    ['a VPC overlapping 198.19.128.0/17', (c: any) => { c.vpcs[0].cidr = '198.19.0.0/16'; c.vpcs[0].subnets = []; c.vpcs[0].ports = []; c.vpcs[0].route_tables = []; }, /^vpcs\[0\]\.cidr: .*198\.19\.128\.0\/17/],
    ['a subnet outside its VPC', (c: any) => { c.vpcs[0].subnets[0].cidr = '10.1.0.0/24'; }, /^vpcs\[0\]\.subnets\[0\]\.cidr: .*outside its VPC/],
    ['overlapping subnets', (c: any) => { c.vpcs[0].subnets.push({ id: 's2', cidr: '192.168.24.128/25' }); }, /^vpcs\[0\]\.subnets\[1\]\.cidr: .*overlaps subnet subnet-app/],
    ['a port IP outside its subnet', (c: any) => { c.vpcs[0].ports[0].ip = '192.168.25.5'; }, /^vpcs\[0\]\.ports\[0\]\.ip: .*outside subnet/],
    ['a port on the gateway address', (c: any) => { c.vpcs[0].ports[0].ip = '192.168.24.1'; }, /^vpcs\[0\]\.ports\[0\]\.ip: .*gateway address/],
    ['a port in an unknown subnet', (c: any) => { c.vpcs[0].ports[0].subnet = 'nope'; }, /^vpcs\[0\]\.ports\[0\]\.subnet: no subnet "nope"/],
    ['a bad port target', (c: any) => { c.vpcs[0].ports[0].target = 'localhost'; }, /^vpcs\[0\]\.ports\[0\]\.target: /],
    ['a duplicate id', (c: any) => { c.vpcs[0].subnets[0].id = 'vpc-app'; c.vpcs[0].ports[0].subnet = 'vpc-app'; c.vpcs[0].route_tables[0].subnets = ['vpc-app']; }, /^vpcs\[0\]\.subnets\[0\]\.id: duplicate id "vpc-app" \(first at vpcs\[0\]\.id\)/],
    ['an unknown account', (c: any) => { c.vpcs[0].account = 'mallory'; }, /^vpcs\[0\]\.account: no account named "mallory"/],
    ['a duplicate token (not shown)', (c: any) => { c.accounts.push({ name: 'b', token: 'provider-secret' }); }, /^accounts\[1\]\.token: the same token as accounts\[0\]\.token$/m],
    // the metrics token reads every tenant's series
    ['the metrics token an account\'s', (c: any) => { c.metrics = { token: 'provider-secret-0123' }; c.accounts[0].token = 'provider-secret-0123'; }, /^metrics\.token: the same token as accounts\[0\]\.token$/m],
    ['a short token', (c: any) => { c.accounts[0].token = 'x'; }, /^accounts\[0\]\.token: /],
    ['a token of spaces', (c: any) => { c.accounts[0].token = '          '; }, /^accounts\[0\]\.token: must not be blank/],
    ['a bad snat mode', (c: any) => { c.dataplane = { snat: 'magic' }; }, /^dataplane\.snat: /],
    ['a bad listen', (c: any) => { c.listen = 'nowhere'; }, /^listen: /],
    // the pattern let these through: a resolver no query could reach, and clients got no answer
    ['a forwarder port out of range', (c: any) => { c.dns = { forward: true, forwarders: ['1.2.3.4:99999'] }; }, /^dns\.forwarders\[0\]: "1\.2\.3\.4:99999" is not an IPv4 address/m],
    ['a forwarder octet out of range', (c: any) => { c.dns = { forward: true, forwarders: ['127.0.0.1:53', '300.1.1.1'] }; }, /^dns\.forwarders\[1\]: /m],
    ['a forwarder port 0', (c: any) => { c.dns = { forward: true, forwarders: ['1.2.3.4:0'] }; }, /^dns\.forwarders\[0\]: /m],
    // 0.0.0.0 is every address of its port: the API's too
    ['DNS on 0.0.0.0 at the API\'s port', (c: any) => { c.listen = '127.0.0.1:9720'; c.dns = { listen: '0.0.0.0:9720' }; }, /^dns\.listen: 0\.0\.0\.0:9720 is the API's listen address/m],
    ['Toxiproxy\'s API on 0.0.0.0 at the API\'s port', (c: any) => { c.listen = '127.0.0.1:9721'; c.faults = { enabled: true, listen: '0.0.0.0:9721' }; }, /^faults\.listen: /m],
    ['a user route of type local', (c: any) => { c.vpcs[0].route_tables[0].routes[0].type = 'local'; }, /^vpcs\[0\]\.route_tables\[0\]\.routes\[0\]\.type: /],
    ['two default route tables', (c: any) => { c.vpcs[0].route_tables.push({ id: 'rtb-2', default: true }); }, /^vpcs\[0\]\.route_tables: more than one default/],
    // the route-table API's rules: two routes to one destination let the list's order decide; a route inside the VPC's CIDR beat its local route
    ['two routes to one destination', (c: any) => { c.vpcs[0].route_tables[0].routes.push({ destination: '0.0.0.0/0', type: 'blackhole' }); }, /^vpcs\[0\]\.route_tables\[0\]\.routes\[1\]\.destination: a second route to 0\.0\.0\.0\/0/m],
    ['a route inside the VPC\'s CIDR', (c: any) => { c.vpcs[0].route_tables[0].routes.push({ destination: '192.168.5.0/24', type: 'igw' }); }, /^vpcs\[0\]\.route_tables\[0\]\.routes\[1\]\.destination: 192\.168\.5\.0\/24 lies inside the VPC's 192\.168\.0\.0\/16/m],
    ['an API headers timeout longer than its request timeout (node:http would throw at start)', (c: any) => { c.api = { request_timeout_ms: 1000, headers_timeout_ms: 2000 }; }, /^api\.headers_timeout_ms: 2000 is longer than request_timeout_ms/],
    ['an API connection cap of 0', (c: any) => { c.api = { max_connections: 0 }; }, /^api\.max_connections: /],
    ['an unknown api key', (c: any) => { c.api = { max_pipelining: 4 }; }, /^api: unknown key "max_pipelining"$/],
    ['a metrics token of spaces', (c: any) => { c.metrics = { token: ' '.repeat(20) }; }, /^metrics\.token: must not contain spaces/],
    // both were kept under one generated id, account and CIDR: the second replaced the first, its subnets and ports with it
    ['two VPCs of one account with one CIDR and no ids', (c: any) => {
      c.vpcs = [
        { account: 'provider', cidr: '10.0.0.0/16', subnets: [{ id: 's1', cidr: '10.0.1.0/24' }], ports: [{ id: 'web1', subnet: 's1', ip: '10.0.1.5' }] },
        { account: 'provider', cidr: '10.0.0.0/16', subnets: [{ id: 's2', cidr: '10.0.2.0/24' }] },
      ];
    }, /^vpcs\[1\]: a second VPC of account "provider" with CIDR 10\.0\.0\.0\/16 and no id \(first at vpcs\[0\]\)/],
    ['a short metrics token', (c: any) => { c.metrics = { token: 'short' }; }, /^metrics\.token: must be at least 16 characters/],
    ['a quota of the wrong type', (c: any) => { c.accounts[0].quotas = { endpoint: 'many' }; }, /^accounts\[0\]\.quotas\.endpoint: /],
    ['a public gateway service without a prefix list', (c: any) => { c.public_services = [{ name: 'obs', service_type: 'gateway', ports: [{ port: 80, target: '127.0.0.1:19000' }] }]; }, /^public_services\[0\]\.prefix_list: /],
    ['colliding public prefixes', (c: any) => {
      c.public_services = [
        { name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-a', cidrs: ['100.125.0.0/24'] }, ports: [{ port: 80, target: '127.0.0.1:19000' }] },
        { name: 'obs2', service_type: 'gateway', prefix_list: { id: 'pl-b', cidrs: ['100.126.0.0/24'] }, ports: [{ port: 80, target: '127.0.0.1:19001' }] },
      ];
    }, /^public_services\[1\]\.prefix_list\.cidrs\[0\]: .*collides with public_services\[0\]/],
    ...([
      ['neither target nor backends', { port: 80 }, /^public_services\[0\]\.ports\[0\]: give either target \(one backend\) or backends/],
      ['both target and backends', { port: 80, target: '127.0.0.1:1', backends: [{ target: '127.0.0.1:2' }] }, /^public_services\[0\]\.ports\[0\]: give either target/],
      ['a backend in an unknown zone', { port: 80, backends: [{ target: '127.0.0.1:1', zone: 'sim-1a' }, { target: '127.0.0.2:1', zone: 'sim-1q' }] },
        /^public_services\[0\]\.ports\[0\]\.backends\[1\]\.zone: unknown zone "sim-1q": the region's zones are sim-1a, sim-1b, sim-1c/],
      ['a backend in no zone beside zoned ones', { port: 80, backends: [{ target: '127.0.0.1:1', zone: 'sim-1a' }, { target: '127.0.0.2:1' }] },
        /^public_services\[0\]\.ports\[0\]\.backends\[1\]\.zone: missing: the other backends of this port name their zones/],
      ['a backend twice', { port: 80, backends: [{ target: '127.0.0.1:1', zone: 'sim-1a' }, { target: '127.0.0.1:1', zone: 'sim-1b' }] },
        /^public_services\[0\]\.ports\[0\]\.backends\[1\]\.target: 127\.0\.0\.1:1 is a backend of this port already/],
      ['a backend that is not HOST:PORT', { port: 80, backends: [{ target: 'web:80', zone: 'sim-1a' }] }, /^public_services\[0\]\.ports\[0\]\.backends\[0\]\.target: "web:80" is not HOST:PORT/],
      ['an empty backend list', { port: 80, backends: [] }, /^public_services\[0\]\.ports\[0\]\.backends: at least one backend/],
    ] as const).map(([what, port, expected]) => [`a public service port with ${what}`, (c: any) => {
      c.public_services = [{ name: 'kv', service_type: 'interface', ports: [port] }];
    }, expected] as [string, (c: any) => void, RegExp]),
    ['backends on a gateway service', (c: any) => {
      c.public_services = [{ name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-a', cidrs: ['100.125.0.0/24'] }, ports: [{ port: 80, backends: [{ target: '127.0.0.1:1', zone: 'sim-1a' }] }] }];
    }, /^public_services\[0\]\.ports\[0\]\.backends: a gateway service takes one target per port/],
    ['an unhealthy draining interval with termination on', (c: any) => { c.dataplane = { unhealthy_connection_termination: { draining_interval: 30 } }; },
      /^dataplane\.unhealthy_connection_termination: draining_interval: 30 can be set above 0 only with connection termination off/],
    ['an unhealthy draining interval out of AWS\'s range', (c: any) => { c.dataplane = { unhealthy_connection_termination: { enabled: false, draining_interval: 360_001 } }; },
      /^dataplane\.unhealthy_connection_termination: draining_interval: 360001 \(0-360000\)/],
    ['an unknown key of unhealthy_connection_termination', (c: any) => { c.dataplane = { unhealthy_connection_termination: { interval: 3 } }; },
      /^dataplane\.unhealthy_connection_termination: unknown key "interval"/],
    ['an unknown key of an SNS topic', (c: any) => { c.aws = { sns_topics: [{ arn: 'arn:aws:sns:us-east-1:111111111111:t', url: 'http://127.0.0.1:9/h', secret: 'x' }] }; }, /^aws\.sns_topics\[0\]: unknown key "secret"$/],
    ['an SNS topic ARN that is not one', (c: any) => { c.aws = { sns_topics: [{ arn: 'arn:aws:sqs:us-east-1:111111111111:q', url: 'http://127.0.0.1:9/h' }] }; }, /^aws\.sns_topics\[0\]\.arn: must be an SNS topic ARN/],
    ['a webhook that is not an http URL', (c: any) => { c.aws = { sns_topics: [{ arn: 'arn:aws:sns:us-east-1:111111111111:t', url: 'ftp://127.0.0.1/h' }] }; }, /^aws\.sns_topics\[0\]\.url: must be an http:\/\/ or https:\/\/ URL/],
    ['a topic declared twice', (c: any) => {
      c.aws = { sns_topics: [{ arn: 'arn:aws:sns:us-east-1:111111111111:t', url: 'http://127.0.0.1:9/a' }, { arn: 'arn:aws:sns:us-east-1:111111111111:t', url: 'http://127.0.0.1:9/b' }] };
    }, /^aws\.sns_topics\[1\]\.arn: duplicate SNS topic arn .*first at aws\.sns_topics\[0\]\.arn/],
  ])('names the path and the reason for %s', (_name, fn, expected) => {
    const p = problems(mutate(fn));
    expect(p.some((x) => expected.test(x)), p.join('\n')).toBe(true);
  });

  it('flow_logs: off by default; AWS\'s two aggregation intervals only; file only with destination file; a small buffer refused', () => {
    expect(validateConfig({}, 'c.yaml').flowLogs).toMatchObject({ destination: 'off', aggregationIntervalS: 600, file: 'flow-logs/flow.log' });
    expect(validateConfig({ flow_logs: { destination: 'file', aggregation_interval_s: 60 } }, 'c.yaml').flowLogs.aggregationIntervalS).toBe(60);
    expect(() => validateConfig({ flow_logs: { aggregation_interval_s: 30 } }, 'c.yaml')).toThrow(/flow_logs\.aggregation_interval_s: must be 60 or 600/);
    expect(() => validateConfig({ flow_logs: { destination: 'stdout', file: 'x.log' } }, 'c.yaml')).toThrow(/flow_logs\.file: applies to destination: file only/);
    expect(() => validateConfig({ flow_logs: { destination: 'file', buffer_bytes: 100 } }, 'c.yaml')).toThrow(/flow_logs\.buffer_bytes/);
    expect(() => validateConfig({ flow_logs: { destination: 'syslog' } }, 'c.yaml')).toThrow(/flow_logs\.destination/);
    expect(() => validateConfig({ flow_logs: { rotate: true } }, 'c.yaml')).toThrow(/flow_logs: unknown key "rotate"/);
    expect(() => validateConfig({ dataplane: { snat_ports: '80-90' } }, 'c.yaml')).toThrow(/dataplane\.snat_ports: 80-90: LOW-HIGH with 1024 <= LOW <= HIGH <= 65535/);
    expect(() => validateConfig({ dataplane: { snat_ports: '5000-4000' } }, 'c.yaml')).toThrow(/dataplane\.snat_ports/);
    expect(() => validateConfig({ dataplane: { snat_ports: 4000 } }, 'c.yaml')).toThrow(/dataplane\.snat_ports/);
    expect(validateConfig({ dataplane: { snat_ports: '40000-40009' } }, 'c.yaml').dataplane.snatPorts).toEqual({ low: 40000, high: 40009 });
    expect(validateConfig({}, 'c.yaml').dataplane.snatPorts).toEqual({ low: 1024, high: 65535 });
  });

  it('lists every problem at once', () => {
    const p = problems(mutate((c) => { c.vpcs[0].zone = 'x'; c.accounts[0].token = 'short'; }));
    expect(p.length).toBeGreaterThanOrEqual(2);
  });

  it('allows overlapping CIDRs in different VPCs (000_9af245a83013c30f.txt 7.2)', () => {
    const c = mutate((c) => { c.vpcs.push({ id: 'vpc-2', account: 'provider', cidr: '192.168.0.0/16' }); });
    expect(validateConfig(c, 'x').vpcs).toHaveLength(2);
  });
});

describe('faults config', () => {
  it('defaults: off, on Toxiproxy\'s 127.0.0.1:8474', () => {
    expect(validateConfig({}, 'test.yaml').faults).toEqual({ enabled: false, listen: { host: '127.0.0.1', port: 8474 }, provisioningDelayMs: 0 });
    expect(validateConfig({ faults: { enabled: true, listen: '127.0.0.2:9000' } }, 'test.yaml').faults).toEqual({ enabled: true, listen: { host: '127.0.0.2', port: 9000 }, provisioningDelayMs: 0 });
  });

  it('refuses a bad listen, the API\'s own address and unknown keys, naming the path', () => {
    expect(problems({ faults: { listen: 'localhost' } })).toEqual(['faults.listen: "localhost" is not HOST:PORT with an IPv4 host']);
    expect(problems({ listen: '127.0.0.1:9480', faults: { listen: '127.0.0.1:9480' } })[0]).toMatch(/^faults\.listen: 127\.0\.0\.1:9480 is the API's listen address/);
    expect(problems({ faults: { enabled: 'yes' } })[0]).toMatch(/^faults\.enabled/);
    expect(problems({ faults: { port: 1 } })[0]).toMatch(/faults.*port/);
  });
});

describe('store_durability', () => {
  it('is process unless given, takes power, and refuses anything else naming both choices', () => {
    expect(validateConfig(base(), 'c.yaml').storeDurability).toBe('process');
    expect(validateConfig({ ...base(), store_durability: 'power' }, 'c.yaml').storeDurability).toBe('power');
    expect(validateConfig({ ...base(), store_durability: 'process' }, 'c.yaml').storeDurability).toBe('process');
    for (const bad of ['full', 'FULL', true, 2]) {
      expect(problems({ ...base(), store_durability: bad })).toEqual([expect.stringMatching(/^store_durability: must be process \(.*\) or power \(.*\)/)]);
    }
  });
});

describe('loadConfig', () => {
  it('refuses a document nested too deeply for the parser, naming the place, not V8\'s stack', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-config-'));
    const file = path.join(dir, 'deep.yaml');
    fs.writeFileSync(file, `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`);
    try {
      expect(() => loadConfig(file)).toThrow(ConfigError);
      expect(() => loadConfig(file)).toThrow(/not valid YAML: nested too deeply at line 1/);
      expect(() => loadConfig(file)).not.toThrow(/call stack/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a JSON key given twice in one object, naming the key, its path and line (JSON.parse kept the last one, silently; YAML refused it)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-config-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, '{"dns": {"ttl": 99999}, "dns": {"ttl": 5},\n "vpcs": [{"account": "default", "cidr": "10.0.0.0/16", "cidr": "10.1.0.0/16"}]}');
    try {
      let problems: readonly string[] = [];
      try {
        loadConfig(file);
      } catch (err) {
        problems = (err as ConfigError).problems;
      }
      expect(problems).toEqual(['(top level): duplicate key "dns" at line 1, column 25', 'vpcs[0]: duplicate key "cidr" at line 2, column 57']);
      // the same key in two objects is no duplicate
      fs.writeFileSync(file, '{"dns": {"ttl": 5}, "api": {"max_connections": 5}, "accounts": [{"name": "a", "token": "aaaaaaaa"}, {"name": "b", "token": "bbbbbbbb"}]}');
      expect(loadConfig(file).dns.ttlS).toBe(5);
      // nested too deeply for the duplicate check's parser: said so, as for YAML
      fs.writeFileSync(file, `{"a": ${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
      expect(() => loadConfig(file)).toThrow(/not valid JSON: nested too deeply/);
      expect(() => loadConfig(file)).not.toThrow(/call stack/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file over 16 MiB before reading it (a 50 MB one took 1.8 GB and 11 s to parse; a reload blocked the API as long)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-config-'));
    const file = path.join(dir, 'huge.yaml');
    fs.writeFileSync(file, `region: "${'a'.repeat(17 * 2 ** 20)}"\n`);
    try {
      expect(() => loadConfig(file)).toThrow(`the file holds ${17 * 2 ** 20 + 11} bytes: a config holds at most ${16 * 2 ** 20} bytes (16 MiB)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
