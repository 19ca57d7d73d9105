// README "Quick start with the aws CLI" run verbatim: the blocks marked `<!-- test: aws-quickstart
// NAME -->` are taken from README.md as they are (the config written to NAME, the `run` block run
// with bash) in a temporary directory that looks like a checkout (package.json, bin, dist, build
// and node_modules linked), so `npm start`, `npx vpcep wait`, the real `aws` CLI, python's
// http.server and curl do exactly what a reader's shell would. Its stdout, less the daemon's log
// lines and npm's banner, must be the README's `stdout` block with only the ids differing. The
// block uses the fixed ports of the README (9480, 8080, 80): the test runs in its own network
// namespace (README "Tests"). CI installs the aws CLI (.ci/run); elsewhere a missing aws skips
// the test under a name that says why.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { linkCheckout, listening, markedBlocks, readerEnv, runBash } from './readme-blocks.js';
import { AWS_CLI } from './aws-sdk.js';

const HAVE_AWS = spawnSync(AWS_CLI, ['--version'], { stdio: 'ignore' }).status === 0;
const RUN = HAVE_AWS || process.env.CI === 'true';
const RUN_MS = 240_000; // measured: 70 s under a load average of 14, 140 s under 25 (18 starts of the Python aws CLI)

/**
 * the lines the reader reads: no daemon log lines (pino's JSON), no banner of npm or of the web server, no
 * blank lines. The daemon and the block's commands share the pipe, so a log line (one write) may land
 * between a command's "0" and its newline (two writes; seen in CI): log lines are cut out of the stream
 * with their newline before it is split into lines.
 */
const readerLines = (stdout: string): string[] =>
  stdout.replace(/\{"level":\d+,[^\n]*\}\n/g, '').split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('> ') && !l.startsWith('Serving HTTP on '));
const ID = /\b(vpce|eni)-[0-9a-f]{17}\b/g;
const anonymous = (l: string): string => l.replace(ID, '$1-0123456789abcdef0');

if (!RUN) {
  describe('README quick start with the aws CLI', () => {
    it.skip('skipped: the aws CLI is not on PATH (install awscli; CI=true makes this test mandatory)', () => {});
  });
}

describe.runIf(RUN)('README quick start with the aws CLI, run verbatim', () => {
  const dir = tempDir('vpcep-aws-quickstart-');
  let failed = false;
  afterAll(() => { if (!failed) fs.rmSync(dir, { recursive: true, force: true }); });

  it('prints the README\'s output: pendingAcceptance, accepted, the backend\'s page through the endpoint, refused after reject, deleted', async () => {
    if (!HAVE_AWS) throw new Error('CI=true and the aws CLI is not on PATH: .ci/run must install awscli');
    const blocks = markedBlocks('aws-quickstart');
    expect([...blocks.keys()].sort()).toEqual(['quickstart-aws.yaml', 'run', 'stdout']);
    for (const port of [9480, 8080]) {
      if (await listening(port)) throw new Error(`127.0.0.1:${port} is taken: the README block needs it; run the tests in their own network namespace (README "Tests")`);
    }
    linkCheckout(dir);
    fs.writeFileSync(path.join(dir, 'quickstart-aws.yaml'), blocks.get('quickstart-aws.yaml')!);
    fs.writeFileSync(path.join(dir, 'quickstart-aws.sh'), blocks.get('run')!);

    // the reader's environment, less whatever AWS or vpcep settings this one carries (the relay choice stays)
    const env = readerEnv(/^AWS_/);
    // the block's 18 calls of `aws` run the program itself, not pyenv's shim (AWS_CLI)
    if (AWS_CLI !== 'aws') env.PATH = `${path.dirname(AWS_CLI)}:${env.PATH ?? ''}`;
    Object.assign(env, { AWS_CONFIG_FILE: path.join(dir, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-aws-credentials'), NO_UPDATE_NOTIFIER: '1' });

    const started = Date.now();
    const { code, stdout, stderr, kill } = await runBash(dir, 'quickstart-aws.sh', env, RUN_MS);
    console.log(`README aws quick start: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    try {
      const lines = readerLines(stdout);
      expect(code).toBe(0);
      expect(stderr).not.toMatch(/^npm error /m); // npx vpcep wait ran
      expect(lines.map(anonymous)).toEqual(readerLines(blocks.get('stdout')!));
      // one endpoint throughout, and the one ENI of its subnet
      const ids = new Set(lines.flatMap((l) => l.match(/\bvpce-[0-9a-f]{17}\b/g) ?? []));
      expect(ids.size).toBe(1);
      // the backend saw the endpoint's SNAT address, once; curl was refused after the reject
      expect(stderr.match(/^198\.19\.128\.1 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 -$/gm)).toHaveLength(1);
      expect(stderr).toMatch(/^curl: \(7\) Failed to connect to 127\.2\.1\.4 port 80\b/m);
      // the daemon stopped as the README says, and nothing holds the ports any more
      expect(stdout).toMatch(/"msg":"stopped"/);
      expect(await listening(9480)).toBe(false);
      expect(await listening(8080)).toBe(false);
      expect(await listening(80, '127.2.1.4')).toBe(false);
    } catch (e) {
      failed = true;
      throw new Error(`${(e as Error).message}\n--- exit ${code}; kept ${dir}\n--- stdout\n${stdout.slice(-6000)}\n--- stderr\n${stderr.slice(-4000)}`);
    } finally {
      kill();
    }
  }, RUN_MS + 30_000);
});
