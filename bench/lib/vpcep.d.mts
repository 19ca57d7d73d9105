// The types of what the tests import from vpcep.mjs (the benchmarks' daemon harness; the tests
// are type-checked, `npm run typecheck`)
/** the node flags the daemon runs under (bin/vpcepd.js's first line) */
export const DAEMON_NODE_FLAGS: readonly string[];
