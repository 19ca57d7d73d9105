// Makes 198.19.128.0/17 local (the AnyIP route of kernel SNAT) once for the whole run when this
// host allows it, so that test daemons find it in place and never add or remove it under each
// other. Removed at the end only if it was added here.
import { setupSnat } from '../src/dataplane/snat-mode.js';

let teardown: (() => Promise<void>) | undefined;

export async function setup(): Promise<void> {
  const s = await setupSnat('auto');
  process.env.VPCEP_TEST_SNAT_MODE = s.mode;
  teardown = s.teardown;
}

export async function teardownAll(): Promise<void> {
  await teardown?.();
}

export { teardownAll as teardown };
