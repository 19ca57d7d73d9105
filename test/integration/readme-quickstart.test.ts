// README "Quick start", "Gateway endpoints" -> "Quick start" and the DNS block ("The names at
// work") run verbatim: the blocks marked `<!-- test: quickstart|gateway|dns NAME -->` are taken
// from README.md as they are and run with bash in a temporary directory that looks like a checkout
// (readme-blocks.ts), and what the blocks' comments say a reader sees is checked in what they
// printed: the endpoint's addresses, the backend's log of the source it saw, the refusals, the
// traces' verdicts, the names' answers, the daemon stopping. Each block ends with `kill ... $VPCEPD`;
// the test adds `wait $VPCEPD` to see it exit 0. The blocks use the README's fixed ports (9480,
// 5353, 8080, 80) and kernel SNAT: root, in a network namespace of its own (README "Tests"); not
// root, the test is skipped under a name that says why.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { linkCheckout, listening, markedBlocks, readerEnv, runBash } from './readme-blocks.js';

const ROOT_USER = process.getuid?.() === 0;
const RUN_MS = 180_000; // a dozen npx starts and two daemons' starts and drains: 20-40 s on an idle machine
const WAIT_DAEMON = '\nwait $VPCEPD; echo "vpcepd exit $?"\n';

if (!ROOT_USER) {
  describe('README quick starts run verbatim', () => {
    it.skip('skipped: not root (the blocks listen on port 80 and install the SNAT route; README "Quick start")', () => {});
  });
}

describe.runIf(ROOT_USER)('README quick starts run verbatim', () => {
  const dirs: string[] = [];
  let failed = false;
  afterAll(() => { if (!failed) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  /** runs the blocks of `tag` named in `script`, one after the other, with `files` written beside them; `check` reads the output */
  async function run(tag: string, files: Record<string, string>, script: string[], check: (out: { stdout: string; stderr: string }) => Promise<void>): Promise<void> {
    for (const port of [9480, 8080]) {
      if (await listening(port)) throw new Error(`127.0.0.1:${port} is taken: the README block needs it; run the tests in their own network namespace (README "Tests")`);
    }
    const dir = tempDir(`vpcep-readme-${tag}-`);
    dirs.push(dir);
    linkCheckout(dir);
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    const blocks = markedBlocks(tag);
    fs.writeFileSync(path.join(dir, `${tag}.sh`), script.map((n) => blocks.get(n) ?? (() => { throw new Error(`no README block ${tag} ${n}`); })()).join('\n') + WAIT_DAEMON);
    const { code, stdout, stderr, kill } = await runBash(dir, `${tag}.sh`, readerEnv(), RUN_MS);
    fs.writeFileSync(path.join(dir, 'stdout'), stdout);
    fs.writeFileSync(path.join(dir, 'stderr'), stderr);
    try {
      expect(code).toBe(0);
      expect(stderr).not.toMatch(/^npm error /m);
      expect(stdout).toMatch(/^vpcepd exit 0$/m);
      await check({ stdout, stderr });
      for (const port of [9480, 8080]) expect(await listening(port), `127.0.0.1:${port} still taken`).toBe(false);
    } catch (e) {
      failed = true;
      throw new Error(`${(e as Error).message}\n--- exit ${code}; kept ${dir}\n--- stdout\n${stdout.slice(-8000)}\n--- stderr\n${stderr.slice(-4000)}`);
    } finally {
      kill();
    }
  }

  const quickstartYaml = () => markedBlocks('quickstart').get('quickstart.yaml')!;

  it('Quick start: EndPoint.2012 before the whitelist, accepted at 10.0.1.2 / 127.2.1.2, the backend sees 198.19.128.1, vpc-app is reset, the traces say why, the daemon stops', async () => {
    await run('quickstart', { 'quickstart.yaml': quickstartYaml() }, ['run', 'traffic'], async ({ stdout, stderr }) => {
      expect(stderr).toMatch(/^vpcep: EndPoint\.2012: /m);
      for (const [field, value] of [['status', 'accepted'], ['ip', '10.0.1.2'], ['host_ip', '127.2.1.2'], ['ports', '80'], ['snat_ip', '198.19.128.1']] as const) {
        expect(stdout, field).toMatch(new RegExp(`^│ ${field} +│ ${value.replaceAll('.', '\\.')} +│$`, 'm'));
      }
      // the backend logged the SNAT address for the client of vpc-client and for the host, nothing for vpc-app's
      // (no ^: curl's progress meter shares stderr and leaves its last line open)
      expect(stderr.match(/198\.19\.128\.1 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 -$/gm)).toHaveLength(2);
      expect(stdout).toMatch(/^vpcep_endpoint_connections_total\{endpoint_id="[0-9a-f-]{36}"\} 1$/m);
      expect(stderr).toMatch(/curl: \((7|55|56)\) /);
      expect(stdout).toMatch(/│ verdict +│ refuse \(reset\) \[vpc\]: /);
      expect(stdout).toMatch(/│ verdict +│ relay: relayed through interface endpoint [0-9a-f-]{36} /);
      // (its SNAT route stays: the test run's global setup holds it; lifecycle.test.ts sees a daemon remove its own)
      expect(await listening(80, '127.2.1.2')).toBe(false);
    });
  }, RUN_MS + 30_000);

  it('Gateway endpoints quick start: the route in rtb-a, subnet-a relayed with its own address, subnet-b reset for want of a route', async () => {
    const blocks = markedBlocks('gateway');
    await run('gateway', { 'gateway.yaml': blocks.get('gateway.yaml')! }, ['run'], async ({ stdout, stderr }) => {
      expect(stdout).toMatch(/│ pl-obs +│ gateway_endpoint │ [0-9a-f-]{36} │ endpoint │/);
      expect(stderr.match(/127\.1\.1\.50 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 -$/gm)).toHaveLength(1);
      expect(stderr).not.toContain('127.1.2.7 - - ');
      expect(stderr).toMatch(/curl: \((7|52|55|56)\) /);
      expect(stdout).toMatch(/│ verdict +│ relay: relayed through gateway endpoint [0-9a-f-]{36} /);
      expect(stdout).toMatch(/│ verdict +│ refuse \(reset\) \[not_accepted\]: no route to 100\.125\.0\.10 in rtb-main /);
    });
  }, RUN_MS + 30_000);

  it('DNS, the names at work: the endpoint\'s Huawei name and the provider\'s verified name answer 127.2.1.2 in the consumer\'s VPC only, and the page comes by name', async () => {
    await run('dns', { 'quickstart.yaml': quickstartYaml() }, ['run'], async ({ stdout }) => {
      expect(stdout).toMatch(/│ [0-9a-f]{8}\.web\.vpcep\.sim-1\.internal │ A +│ 60 +│ 127\.2\.1\.2 +│/);
      expect(stdout.match(/^127\.2\.1\.2$/gm), 'dig +short, the Huawei name and api.example.com').toHaveLength(2);
      // from vpc-app: the Huawei name does not exist; api.example.com does, for its public TXT record lies below it (NODATA, RFC 8020)
      expect(stdout.match(/status: (NXDOMAIN|NOERROR)/g), 'both names from vpc-app').toEqual(['status: NXDOMAIN', 'status: NOERROR']);
      expect(stdout).toMatch(/│ custom_domain +│ api\.example\.com \(verified\) +│/);
      expect(stdout).toContain('<title>Directory listing for /</title>');
    });
  }, RUN_MS + 30_000);
});
