// Makes 198.19.128.0/17 local (the AnyIP route of kernel SNAT) once for the whole run when this
// host allows it, so that test daemons find it in place and never add or remove it under each
// other. Removed at the end only if it was added here.
import fs from 'node:fs';
import path from 'node:path';
import { setupSnat } from '../src/dataplane/snat-mode.js';
import { PACKAGE_ROOT } from '../src/version.js';

/**
 * The daemons the tests spawn run dist/bundle/vpcepd.mjs (bin/vpcepd.js), the second step of `npm
 * run build`: after a `tsc` alone it is older than dist/ and they would run the code before the
 * change. Refused here, with what to run, rather than tested quietly against the old code.
 */
function checkBundle(): void {
  const dist = path.join(PACKAGE_ROOT, 'dist');
  const bundle = path.join(dist, 'bundle', 'vpcepd.mjs');
  if (!fs.existsSync(path.join(dist, 'vpcepd.js'))) return;  // nothing built: the spawns say so themselves
  const newest = (fs.readdirSync(dist, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((f) => f.endsWith('.js') && !f.startsWith('bundle'))
    .reduce((m, f) => Math.max(m, fs.statSync(path.join(dist, f)).mtimeMs), 0);
  if (!fs.existsSync(bundle) || fs.statSync(bundle).mtimeMs < newest) {
    throw new Error('dist/bundle/vpcepd.mjs is missing or older than dist/ (tsc ran alone?): run `npm run build`, which bundles the daemon the tests spawn');
  }
}

let teardown: (() => Promise<void>) | undefined;

export async function setup(): Promise<void> {
  checkBundle();
  const s = await setupSnat('auto');
  process.env.VPCEP_TEST_SNAT_MODE = s.mode;
  // every vpcepd a test spawns answers DNS on an ephemeral port unless it says otherwise (default 5353: one at a time)
  process.env.VPCEP_DNS_LISTEN ??= '127.0.0.1:0';
  teardown = s.teardown;
}

export async function teardownAll(): Promise<void> {
  await teardown?.();
}

export { teardownAll as teardown };
