// `npm run build`'s second step: the daemon's own modules (tsc's dist/, from dist/vpcepd.js) in one
// file, dist/bundle/vpcepd.mjs, which bin/vpcepd.js runs. Node loads 151 ES modules one by one in
// 218-220 ms and the bundle in 95-98 ms (README "Dependencies and why": rolldown): every start of the
// daemon, and every restart, is that much sooner. The packages from node_modules stay outside it
// (native addons, pino-roll's and better-sqlite3's own files), and so do the lazily imported parts
// (the etcd store: a chunk of its own, loaded only with --store etcd://).
export default {
  input: 'dist/vpcepd.js',
  platform: 'node',
  external: (id) => !id.startsWith('.') && !id.startsWith('/'),
  output: { dir: 'dist/bundle', format: 'esm', entryFileNames: 'vpcepd.mjs', chunkFileNames: '[name]-[hash].mjs', cleanDir: true },
};
