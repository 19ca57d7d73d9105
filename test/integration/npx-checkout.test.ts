// `npx vpcep` in a built checkout, as the README's blocks run it: npm exec links the checkout into
// npx's cache (a fresh HOME: a fresh cache) and runs its install and prepare scripts again. They
// must do nothing then: before, the first npx recompiled dist/ and ran `node-gyp rebuild`, which
// removed build/ first and, without node-gyp's headers at hand (offline, a fresh HOME), failed
// after that: the daemons after it ran the JavaScript relay (found walking the README's Set-up).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers.js';

describe('npx in a built checkout', () => {
  const dir = tempDir('vpcep-npx-checkout-');
  const home = tempDir('vpcep-npx-home-');
  afterAll(() => { for (const d of [dir, home]) fs.rmSync(d, { recursive: true, force: true }); });

  it('npx vpcep runs the bin and leaves the build alone: no node-gyp rebuild, no recompile (npm exec re-runs install and prepare)', async () => {
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
    for (const f of ['bin', 'dist', 'scripts', 'node_modules']) fs.symlinkSync(path.join(ROOT, f), path.join(dir, f));
    // a build of its own, so that a rebuild's first step (removing build/) shows, and the checkout's is safe
    fs.mkdirSync(path.join(dir, 'build/Release'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'build/Release/vpcep_relay.node'), 'the relay as built');
    const env = { ...process.env, HOME: home, npm_config_update_notifier: 'false' };
    const r = await new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) => {
      execFile('npx', ['vpcep', '--version'], { cwd: dir, env, timeout: 120_000 }, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
    });
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(r.stdout, r.stderr).toBe(`${version}\n`);
    expect(r.err).toBeNull();
    expect(fs.readFileSync(path.join(dir, 'build/Release/vpcep_relay.node'), 'utf8')).toBe('the relay as built');
  }, 150_000);
});
