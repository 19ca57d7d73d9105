// The types of what the tests import from etcd.mjs (test/integration/etcd.ts; the tests are
// type-checked, `npm run typecheck`)
export function etcdArgs(o: { name?: string; dataDir: string; clientPort: number; peerPort: number }): string[];
export function etcdEnv(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export function etcdHealthy(endpoint: string): Promise<boolean>;
