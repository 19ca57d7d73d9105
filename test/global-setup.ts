// Makes 198.19.128.0/17 local (the AnyIP route of kernel SNAT) once for the whole run when this
// host allows it, so that test daemons find it in place and never add or remove it under each
// other. Removed at the end only if it was added here.
import { setupSnat } from '../src/dataplane/snat-mode.js';

let teardown: (() => Promise<void>) | undefined;

export async function setup(): Promise<void> {
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
