#!/usr/bin/env node
// npm's `install` and `prepare` of this checkout: compile the TypeScript, build the native relay
// (when node-gyp fails, the JavaScript relay runs). Under `npx vpcep` / `npx vpcepd` (npm exec,
// npm_command=exec) they do nothing: npm links the checkout into npx's cache to run its bin and
// runs these scripts again, and the first npx of the README's quick start then recompiled dist/
// under the daemon `npm start` had just started and ran `node-gyp rebuild` (about 50 s), which
// removes build/ first: offline, or without node-gyp's headers in a fresh HOME, it failed after
// that and left no native relay, so the daemons after it ran the JavaScript one.
import { spawnSync } from 'node:child_process';

const step = process.argv[2];
if (process.env.npm_command === 'exec') process.exit(0);
const run = (command, args) => spawnSync(command, args, { stdio: 'inherit' }).status ?? 1;
if (step === 'prepare') process.exit(run('npm', ['run', 'build']));
if (step === 'install') {
  if (run('node-gyp', ['rebuild']) !== 0) console.log('vpcep: native relay not built: the JS relay will run');
  process.exit(0);
}
console.error(`npm-lifecycle.mjs: unknown step ${step}: install or prepare`);
process.exit(2);
