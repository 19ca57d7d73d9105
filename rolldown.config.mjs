// `npm run build`'s second step: the daemon (tsc's dist/, from dist/vpcepd.js) and the packages it
// loads at start (fastify, zod, prom-client, ipaddr.js, dns-packet, ...) in one file,
// dist/bundle/vpcepd.mjs, which bin/vpcepd.js runs (README "Dependencies and why": rolldown): Node
// reads one file instead of 151 modules of dist/ and several hundred of node_modules, and every
// start of the daemon, and every restart, is that much sooner. Kept out, loaded from node_modules
// as they are: what is loaded by path or in a thread of its own (better-sqlite3's native addon,
// which the store's worker requires; pino and its writers, whose transports run in worker threads),
// and what only some daemons load, when they need it (etcd3, with --store etcd://, whose store is a
// chunk of its own; yaml, for a YAML config; jsonc-parser, for a JSON config).
const KEEP_OUT = ['better-sqlite3', 'pino', 'pino-roll', 'sonic-boom', 'etcd3', 'yaml', 'jsonc-parser'];

export default {
  input: 'dist/vpcepd.js',
  platform: 'node',
  external: (id) => id.startsWith('node:') || KEEP_OUT.some((m) => id === m || id.startsWith(`${m}/`)),
  output: { dir: 'dist/bundle', format: 'esm', entryFileNames: 'vpcepd.mjs', chunkFileNames: '[name]-[hash].mjs', cleanDir: true },
};
